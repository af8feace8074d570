//! The IAM side of `template.yaml` for Lambda-level tests: the stack the
//! template is resolved into ([`sam_template`]), and the check of the calls a
//! function made against its role ([`authorization`]).
#![allow(dead_code)]

pub mod authorization;
pub mod sam_template;
