//! flowgate-server.
