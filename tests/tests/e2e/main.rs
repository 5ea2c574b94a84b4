//! End-to-end tests: the real router, relay and projectors against real
//! PostgreSQL and NATS JetStream. Each test has its own database, stream and
//! subject prefix (see `crm_tests`), so they run in parallel.

mod attachments;
mod audit;
mod availability;
mod browser;
mod caches;
mod communications;
mod contract;
mod dashboards;
mod flow;
mod forget;
mod free_json;
mod http;
mod idempotency;
mod imports;
mod integrations;
mod integrity;
mod invoices;
mod kpis;
mod openapi;
mod operations;
mod ops_read;
mod permissions;
mod pipeline_order;
mod projector;
mod quotes;
mod races;
mod relay;
mod reports;
mod roles;
mod rules;
mod sales_flow;
mod sales_read;
mod schedule_props;
mod schedules;
mod sending;
mod services;
mod staff;
mod templates;
mod tenancy;
mod walkthrough;
mod webhooks;
