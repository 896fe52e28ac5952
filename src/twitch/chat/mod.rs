//! The chat connection.
