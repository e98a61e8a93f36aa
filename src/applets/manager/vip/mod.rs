//! Service VIPs (contract §5): Marathon VIP labels become Contrail native load balancers that
//! follow the tasks.
//!
//! - [`label`]: VIP labels and names, as dcos-l4lb reads them (pure);
//! - [`desired`]: Marathon's apps and pods, the master's tasks and the cluster's interfaces
//!   → the VIPs Contrail should hold (pure);
//! - [`actual`]: Contrail's lists → the VIPs it holds (pure);
//! - [`diff`]: the steps between them, in the order the API server allows (pure);
//! - [`objects`]: the objects' names, uuids and bodies (pure).

pub mod actual;
pub mod desired;
pub mod diff;
pub mod label;
pub mod objects;
