//! # crm: the composition root of the Movers CRM backend
//!
//! The `crm` binary wires the crates together; this library holds that
//! wiring so `main` and the end-to-end tests build the same system.
//!
//! ```text
//!  crm serve ── Infra::connect (database, migrations, stream)
//!      └─ app::start(Parts::all())
//!           ├─ HTTP: command-api + query-api + /healthz /readyz /metrics /openapi.json
//!           ├─ relay          (events table → JetStream)
//!           └─ projectors     (JetStream → read models), one per projection
//! ```

pub mod app;
pub mod app_ui;
pub mod bench;
pub mod config;
pub mod docs_ui;
pub mod infra;
pub mod openapi;
pub mod status;
pub mod telemetry;

pub use app::{Parts, Running, start};
pub use config::Config;
pub use infra::Infra;
