//! The fetcher against real local servers on real sockets.
mod guard;
mod limits;
mod robots;
mod support;
