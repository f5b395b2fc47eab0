//! The thin layer over the kernel: file-system primitives with the durability rules of
//! DESIGN.md (write to a temporary name, sync, rename) and, later, mounts and namespaces.
//! It is the one module allowed to hold `unsafe`, each use with a `// SAFETY:` line.

pub mod fs;
pub mod lock;
pub mod memory;
pub mod process;
pub mod signal;
pub mod tty;
