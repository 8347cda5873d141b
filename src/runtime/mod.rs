//! The runtime glue around youki's libcontainer and the host: the only layer that touches
//! processes, mounts, namespaces and cgroups, and the only one that names libcontainer
//! (`tests/architecture.rs`). The commands drive it; the engine below it (policy, compliance,
//! audit) never sees it.

pub mod caller_fds;
pub mod cgroup_stats;
pub mod cgroup_tree;
pub mod console;
pub mod container_net;
pub mod delegate;
pub mod executor;
pub mod fault;
pub mod foreground;
pub mod host_mounts;
pub mod isolate;
pub mod live;
pub mod loopback;
pub mod nft;
pub mod nft_batch;
pub mod preflight;
pub mod protect;
pub mod seccomp_cache;
pub mod specconv;
pub mod state_dir;
pub mod timing;
pub mod tripwire;
pub mod userns;
pub mod userns_mounts;
