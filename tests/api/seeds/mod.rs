//! The seed rules issue 16 added: CSP regions, the provider finder, the public enrollment page
//! and the short path of seed 000.

mod enroll;
mod enroll_browser;
mod finder;
mod regions;
mod short_path;
