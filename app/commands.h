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

/// Runs the command of `list` named by argv[1] with the remaining arguments (its argv[0] is
/// "<argv[0]> <name>"). Without a name, or with --help, prints the list (exit code 2 / 0);
/// an unknown name is an InputError listing the known ones. `what` names the family in messages.
int run_subcommand(int argc, char** argv, const std::vector<Command>& list, const std::string& what);

int cmd_train(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_data(int argc, char** argv);
int cmd_export(int argc, char** argv);
int cmd_analyze(int argc, char** argv);
int cmd_report(int argc, char** argv);
int cmd_sweep(int argc, char** argv);
int cmd_boundary(int argc, char** argv);

}  // namespace sernn
