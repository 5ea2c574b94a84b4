//! The aggregates' tests, one binary: each module is one aggregate's (or one
//! shared rule's) behaviour, driven through its commands and events.

mod assignment;
mod availability;
mod calendar_feed;
mod communication;
mod customer;
mod dashboard;
mod equipment;
mod finance;
mod integration;
mod inventory;
mod invoice;
mod lead;
mod quote;
mod recurrence;
mod report;
mod rule;
mod schedule;
mod staff;
mod template;
mod tenant_profile;
mod webhook;
