//! Starts every subsystem the flags allow, wires them to the queue and shuts them down.
