//! flowgate-web.
