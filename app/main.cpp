// The `sernn` program: subcommands over the sernn libraries.
// Exit codes (DESIGN §7): 0 success, 2 bad input (config, CLI, data files), 1 anything else.
#include <cstdio>
#include <cstring>
#include <iostream>

#include "app/cli.h"
#include <fmt/format.h>
#include <torch/torch.h>

#include "app/commands.h"
#include "core/errors.h"
#include "core/parallel.h"
#include "core/signals.h"
#include "core/trainer.h"

namespace sernn {

const std::vector<Command>& commands() {
  static const std::vector<Command> list{
      {"train", "train one network into a run directory", cmd_train},
      {"sweep", "train every (group, gamma, seed) of a sweep; resumable; Slurm arrays", cmd_sweep},
      {"data", "synthetic SHD and the SHD downloader", cmd_data},
      {"analyze", "modularity, entropies, spectra, graph measures of a run or a matrix", cmd_analyze},
      {"report", "self-contained HTML report of a run", cmd_report},
      {"export", "export a trained run as TorchScript", cmd_export},
      {"bench", "benchmarks (regularizer, train) with JSON output", cmd_bench},
      {"boundary", "latent boundaries of low-rank spiking populations (seed 002)", cmd_boundary},
  };
  return list;
}

int run_subcommand(int argc, char** argv, const std::vector<Command>& list, const std::string& what) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::cout << "usage: " << argv[0] << " <" << what << "> [options]\n";
    for (const auto& c : list) std::cout << fmt::format("  {:<12} {}\n", c.name, c.summary);
    return argc < 2 ? 2 : 0;
  }
  std::string known;
  for (const auto& c : list) {
    known += (known.empty() ? "" : ", ") + std::string(c.name);
    if (c.name != std::string(argv[1])) continue;
    std::string prog = std::string(argv[0]) + " " + c.name;
    std::vector<char*> rest{prog.data()};
    for (int i = 2; i < argc; ++i) rest.push_back(argv[i]);
    return c.run(static_cast<int>(rest.size()), rest.data());
  }
  throw InputError(fmt::format("unknown {} '{}' (known: {})", what, argv[1], known));
}

}  // namespace sernn

namespace {
void usage() {
  std::cout << "sernn — spatially embedded recurrent neural networks on LibTorch\n\n"
               "usage: sernn <command> [options]   (sernn <command> --help for its options)\n\ncommands:\n";
  for (const auto& c : sernn::commands()) std::cout << fmt::format("  {:<10} {}\n", c.name, c.summary);
}
}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress lines reach logs and pipes at once
  sernn::configure_allocator();
  // LibTorch and BLAS on one thread in every command (sernn's pool does the parallel work): their
  // results would otherwise depend on the machine's cores, e.g. a sweep's eigenvalues (issue 26).
  at::set_num_threads(1);
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
    usage();
    return argc < 2 ? 2 : 0;
  }
  if (!std::strcmp(argv[1], "--version")) {
    std::cout << "sernn 0.1.0 (LibTorch " << TORCH_VERSION << ")\n";
    return 0;
  }
  for (const auto& c : sernn::commands()) {
    if (std::strcmp(argv[1], c.name) != 0) continue;
    const std::string prog = std::string("sernn ") + c.name;
    std::vector<char*> args{const_cast<char*>(prog.c_str())};
    for (int i = 2; i < argc; ++i) args.push_back(argv[i]);
    sernn::install_stop_handlers();
    try {
      return c.run(static_cast<int>(args.size()), args.data());
    } catch (const sernn::Interrupted& e) {
      std::cerr << "sernn " << c.name << ": stopped by signal " << e.signal
                << "; state saved (sernn train --resume RUN_DIR continues)\n";
      return 128 + e.signal;
    } catch (const sernn::Diverged& e) {
      std::cerr << "sernn " << c.name << ": " << e.what() << "\n";
      return 1;
    } catch (const sernn::InputError& e) {
      std::cerr << "sernn " << c.name << ": error: " << e.what() << "\n";
      return 2;
    } catch (const cxxopts::exceptions::exception& e) {
      std::cerr << "sernn " << c.name << ": error: " << e.what() << " (see sernn " << c.name << " --help)\n";
      return 2;
    } catch (const c10::Error& e) {
      std::cerr << "sernn " << c.name << ": error: " << e.what_without_backtrace() << "\n";
      return 1;
    } catch (const std::exception& e) {
      std::cerr << "sernn " << c.name << ": error: " << e.what() << "\n";
      return 1;
    }
  }
  std::cerr << "sernn: unknown command '" << argv[1] << "'\n";
  usage();
  return 2;
}
