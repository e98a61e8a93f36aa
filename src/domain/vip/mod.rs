//! Marathon VIPs as Contrail native load balancers, without I/O: the VIP labels
//! (`label`), what Contrail should hold for them (`desired`, from Marathon's apps and pods and
//! the Mesos master's tasks), what it holds (`actual`, from the load balancers this cluster
//! marked), the steps between the two (`diff`), and the objects' names and bodies
//! (`objects`). The manager's VIP loop and `status` both use it.

pub mod actual;
pub mod desired;
pub mod diff;
pub mod label;
pub mod objects;
