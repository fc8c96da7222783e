#pragma once
/// The `sernn` subcommands. Each takes the arguments after its name (argv[0] = "sernn <cmd>")
/// and returns the process exit code; InputError escapes to main, which maps it to exit code 2.
#include <string>
#include <vector>

namespace sernn {

struct Command {
  const char* name;
  const char* summary;
  int (*run)(int argc, char** argv);
};

/// All subcommands, in the order `sernn --help` lists them.
const std::vector<Command>& commands();

int cmd_train(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_data(int argc, char** argv);
int cmd_export(int argc, char** argv);
int cmd_analyze(int argc, char** argv);
int cmd_report(int argc, char** argv);
int cmd_sweep(int argc, char** argv);

}  // namespace sernn
