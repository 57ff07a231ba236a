//! The shared contracts: Rust generated from `proto/` (prost, tonic) and the event envelope.
//!
//! Services depend on this crate, never on each other: a service's gRPC API and the events it
//! publishes are defined once, in `proto/`, and generated here.

pub mod events;

/// Generated protobuf packages, by their proto package path.
pub mod workflow {
    pub mod events {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/workflow.events.v1.rs"));
        }
    }
    pub mod config {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/workflow.config.v1.rs"));
        }
    }
    pub mod human_agent {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/workflow.human_agent.v1.rs"));
        }
    }
    pub mod org_auth {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/workflow.org_auth.v1.rs"));
        }
    }
}

/// The encoded `FileDescriptorSet` of every proto in the workspace, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptor.bin"));
