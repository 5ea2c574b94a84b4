//! Message templates (email, SMS, letters) written by a moving company's
//! managers and rendered with customer, lead, quote, invoice and schedule data.
//!
//! Templates are untrusted input on a multi-tenant server, so they must never
//! be able to stop or hang the server process. Rendering uses
//! [minijinja](https://docs.rs/minijinja/3.1.0) with
//!
//! * strict undefined behaviour: a variable the data lacks is an error
//!   ([`TemplateError::Undefined`] naming the dotted path), never an empty string;
//! * fuel ([`Limits::fuel`]): every instruction and every byte the engine
//!   produces costs fuel, so loops and growing strings stop with
//!   [`TemplateError::OutOfFuel`];
//! * a lowered recursion limit ([`RECURSION_LIMIT`]);
//! * an output cap ([`Limits::max_output_bytes`], [`TemplateError::OutputTooLarge`]);
//!
//! and, because an allocation failure aborts the whole process (an abort is not
//! a panic), the server renders in a pool of sandboxed worker processes
//! ([`Renderer`]), each limited with `setrlimit` and killed when it runs over
//! [`Limits::wall_time`]. A worker that dies mid-request is reported as
//! [`TemplateError::MemoryLimit`] and replaced.
//!
//! The binary that the server starts as a worker must call [`worker_main`]
//! (this crate ships `crm-render-worker`; the `crm` binary can dispatch to it
//! from a `render-worker` sub-command before it starts any runtime).

mod error;
mod filters;
mod pool;
mod render;
mod sms;
mod worker;

use std::collections::BTreeSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use error::TemplateError;
pub use pool::{Renderer, WorkerCommand};
pub use render::{check, render_in_process};
pub use sms::{SmsEncoding, SmsLength, sms_length};
pub use worker::worker_main;

/// The recursion limit of the template engine (macros calling macros,
/// nested blocks). minijinja's default is 500; CRM templates need a few levels.
pub const RECURSION_LIMIT: usize = 50;

/// How the rendered content is escaped. The subject (and any SMS text) is never
/// HTML-escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Escape {
    /// Values written into the content with `{{ … }}` are HTML-escaped (email
    /// bodies). The template's own markup is left as it is; `|safe` opts out.
    Html,
    /// Nothing is escaped (SMS, plain-text email, letters rendered to text).
    Plain,
}

/// What a template may cost. The defaults suit CRM emails, SMS and letters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Largest content template source, in bytes (default 64 KiB).
    pub max_template_bytes: usize,
    /// Largest subject, in bytes, both as a template and once rendered
    /// (default 998, the longest line RFC 5322 allows).
    pub max_subject_bytes: usize,
    /// Largest rendered content, in bytes (default 512 KiB).
    pub max_output_bytes: usize,
    /// Fuel for one render of each field (subject and content each get this
    /// much). One fuel is one engine instruction or 64 bytes of data produced
    /// or processed. Default 20 000: a realistic two-page email (a quote with
    /// 12 line items, 3 scheduled visits, 10 terms, conditionals, `money` and
    /// `date`; 6 KB of HTML) takes 978, so this is 20 times above it. 20 000
    /// fuel also pays for at most 1.28 MB of data, so the output cap and the
    /// fuel stop a growing string long before memory runs short.
    pub fuel: u64,
    /// Longest a render may take in a worker before the worker is killed
    /// (default 2 s).
    pub wall_time: Duration,
    /// Address-space limit (`RLIMIT_AS`) of a worker process (default 512 MiB).
    pub memory_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_template_bytes: 64 * 1024,
            max_subject_bytes: 998,
            max_output_bytes: 512 * 1024,
            fuel: 20_000,
            wall_time: Duration::from_secs(2),
            memory_bytes: 512 * 1024 * 1024,
        }
    }
}

/// A template to render: an optional subject (email subject, letter title) and
/// the content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// The subject template. Rendered as plain text on one line: every control
    /// character (CR, LF, tab, …, and the Unicode line and paragraph
    /// separators) in the result becomes a space, runs of them collapse and
    /// the ends are trimmed, so a value can never inject a header.
    pub subject: Option<String>,
    /// The content template.
    pub content: String,
    /// How values in the content are escaped.
    pub escape: Escape,
}

/// A rendered template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rendered {
    /// The rendered subject (one line, at most [`Limits::max_subject_bytes`]),
    /// if the source has one.
    pub subject: Option<String>,
    /// The rendered content (at most [`Limits::max_output_bytes`]).
    pub content: String,
}

/// The variables a template reads, found by static analysis (every branch,
/// whether taken or not). Names the engine provides (`range`, `namespace`,
/// `dict`, `debug`, `loop`) and variables the template sets itself are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variables {
    /// Dotted paths as written, e.g. `customer.first_name`, `quote.items`. A
    /// method call on a value shows up as one more segment
    /// (`customer.name.upper` for `customer.name.upper()`).
    pub paths: BTreeSet<String>,
    /// The root names, e.g. `customer`, `quote`.
    pub roots: BTreeSet<String>,
}
