//! placeholder until the owner fills it in
