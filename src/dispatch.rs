//! The dispatcher: the one consumer of the event queue.
