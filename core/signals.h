#pragma once
/// Graceful stop on SIGINT/SIGTERM: the first signal asks long work to stop at the next safe
/// point (the trainer saves a checkpoint and exits); a second signal exits at once.
namespace sernn {

/// Installs the handlers (idempotent).
void install_stop_handlers();
/// True once a stop was requested.
bool stop_requested();
/// The signal that requested the stop (0 if none).
int stop_signal();
/// Requests a stop as if `signal` had arrived (tests).
void request_stop(int signal);
/// Clears a request (tests).
void clear_stop();

/// Thrown by long work that stopped on request, after saving what it had.
struct Interrupted {
  int signal;
};

}  // namespace sernn
