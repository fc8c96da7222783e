// Train a spatially embedded rate RNN (seRNN cost, gamma 0.05) on seed 000's one-choice task
// with sernn's library API: config -> task, network, penalty -> loss terms -> Trainer.
#include <iostream>

#include "core/trainer.h"
#include "run/setup.h"

int main(int argc, char** argv) {
  sernn::Config config;  // every key at its default: 100 rate neurons on a 5x5x4 grid, one-choice task
  config.set("regularizer.kind=sernn");
  config.set("task.train_size=1024");
  auto task = sernn::make_task(config);
  auto network = sernn::make_network(config, task->input_size(), task->num_classes());
  auto penalty = sernn::make_config_penalty(config, sernn::resolve_coords(config));

  sernn::TrainerOptions options;
  options.out_dir = argc > 1 ? argv[1] : "example_run";  // a run directory, as `sernn train` writes
  options.epochs = 3;
  options.loss = {sernn::task_loss_term(), sernn::penalty_term(penalty, /*gamma=*/0.05)};
  options.quiet = true;
  const auto last = sernn::Trainer(network, task, options).fit();
  std::cout << "test accuracy after " << options.epochs << " epochs: " << last["test_acc"] << "\n";
  return 0;
}
