//! The sandbox: every limit through the real worker pool, and the pool
//! recovering after each (the next render on the same `Renderer` succeeds).

mod common;

use std::time::{Duration, Instant};

use serde_json::{Map, json};
use templating::{
    Escape, Limits, Renderer, Source, TemplateError, WorkerCommand, render_in_process,
};

fn worker() -> WorkerCommand {
    WorkerCommand {
        program: env!("CARGO_BIN_EXE_crm-render-worker").into(),
        args: Vec::new(),
    }
}

fn renderer(limits: Limits, max_workers: usize) -> Renderer {
    Renderer::new(worker(), limits, max_workers)
}

/// Limits with fuel so high that only the sandbox can stop a template: the
/// wall time for endless loops.
fn no_fuel() -> Limits {
    Limits {
        fuel: u64::MAX,
        wall_time: Duration::from_secs(1),
        ..Limits::default()
    }
}

/// Like [`no_fuel`], for templates that grow without end: a smaller address
/// space and a generous wall time, so that memory runs out first even in a
/// debug build on a busy machine.
fn no_fuel_memory() -> Limits {
    Limits {
        fuel: u64::MAX,
        wall_time: Duration::from_secs(10),
        memory_bytes: 128 * 1024 * 1024,
        ..Limits::default()
    }
}

fn plain(content: &str) -> Source {
    Source {
        subject: None,
        content: content.to_owned(),
        escape: Escape::Plain,
    }
}

/// Renders `content` with no data.
async fn render(renderer: &Renderer, content: &str) -> Result<String, TemplateError> {
    renderer
        .render(&plain(content), &Map::new())
        .await
        .map(|r| r.content)
}

/// The renderer still renders the realistic email correctly.
async fn assert_recovers(renderer: &Renderer) {
    let rendered = renderer
        .render(&common::email(), &common::email_data())
        .await
        .expect("the pool recovers");
    let expected = render_in_process(&common::email(), &common::email_data(), renderer.limits());
    assert_eq!(Ok(rendered), expected);
}

#[tokio::test]
async fn renders_like_in_process() {
    let renderer = renderer(Limits::default(), 2);
    assert_recovers(&renderer).await;
    let variables = json!({"customer": {"first_name": "Ann"}})
        .as_object()
        .cloned()
        .unwrap();
    let source = Source {
        subject: Some("Hi {{ customer.first_name }}".into()),
        ..plain("{{ customer.phone }}")
    };
    assert_eq!(
        renderer.render(&source, &variables).await,
        Err(TemplateError::Undefined {
            field: "content",
            name: "customer.phone".into(),
            line: Some(1)
        })
    );
    let error = renderer
        .render(&plain("{% for %}"), &Map::new())
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            TemplateError::Syntax {
                field: "content",
                line: 1,
                ..
            }
        ),
        "{error:?}"
    );
    assert_recovers(&renderer).await;
    assert_eq!(
        renderer.idle_workers().len(),
        1,
        "one worker served them all"
    );
}

// ---- With the default limits: the engine stops these, the worker survives. ----

#[tokio::test]
async fn default_limits_through_the_pool() {
    let renderer = renderer(Limits::default(), 1);
    assert_eq!(
        render(&renderer, "{{ '-' * 10**9 }}").await,
        Err(TemplateError::OutOfFuel)
    );
    assert_recovers(&renderer).await;
    let error = render(&renderer, "{{ ([0] * 10**9)|length }}")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, TemplateError::Render { message, .. } if message.contains("repeated sequence is too large")),
        "{error:?}"
    );
    assert_recovers(&renderer).await;
    let error = render(&renderer, "{{ range(10**9)|length }}")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, TemplateError::Render { message, .. } if message.contains("range has too many elements")),
        "{error:?}"
    );
    assert_recovers(&renderer).await;
    assert_eq!(
        render(&renderer, "{{ 'a\nb'|indent(width=10**9) }}").await,
        Err(TemplateError::OutOfFuel)
    );
    assert_recovers(&renderer).await;
    assert_eq!(
        render(&renderer, "{% set ns = namespace(s='x') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}").await,
        Err(TemplateError::OutOfFuel)
    );
    assert_recovers(&renderer).await;
    assert_eq!(
        render(&renderer, "{% macro d(s, n) %}{% if n > 0 %}{{ d(s ~ s, n - 1) }}{% else %}{{ s|length }}{% endif %}{% endmacro %}{{ d('x' * 100000, 40) }}").await,
        Err(TemplateError::OutOfFuel)
    );
    assert_recovers(&renderer).await;
    assert_eq!(
        render(
            &renderer,
            "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
        )
        .await,
        Err(TemplateError::OutOfFuel)
    );
    assert_recovers(&renderer).await;
    let long = "x".repeat(60);
    let content = format!(
        "{{{{ 'x'{} }}}}",
        format!("|replace('x', '{long}')").repeat(6)
    );
    assert_eq!(
        render(&renderer, &content).await,
        Err(TemplateError::OutOfFuel)
    );
    assert_recovers(&renderer).await;
    assert_eq!(renderer.idle_workers().len(), 1, "no worker died");
}

#[tokio::test]
async fn megabytes_of_output_are_too_large() {
    let renderer = renderer(
        Limits {
            fuel: 1_000_000,
            ..Limits::default()
        },
        1,
    );
    assert_eq!(
        render(
            &renderer,
            "{% for i in range(64) %}{{ '0123456789abcdef' * 1024 }}{% endfor %}"
        )
        .await,
        Err(TemplateError::OutputTooLarge {
            field: "content",
            limit: 512 * 1024
        })
    );
    assert_recovers(&renderer).await;
}

// ---- Without fuel: only the sandbox (RLIMIT_AS, wall time) stops these. ----

#[tokio::test]
async fn namespace_doubling_hits_the_memory_limit() {
    let renderer = renderer(no_fuel_memory(), 1);
    assert_eq!(
        render(&renderer, "{% set ns = namespace(s='x') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}").await,
        Err(TemplateError::MemoryLimit)
    );
    assert_recovers(&renderer).await;
}

#[tokio::test]
async fn recursive_macro_doubling_hits_the_memory_limit() {
    let renderer = renderer(no_fuel_memory(), 1);
    assert_eq!(
        render(&renderer, "{% macro d(s, n) %}{% if n > 0 %}{{ d(s ~ s, n - 1) }}{% else %}{{ s|length }}{% endif %}{% endmacro %}{{ d('x' * 10**7, 40) }}").await,
        Err(TemplateError::MemoryLimit)
    );
    assert_recovers(&renderer).await;
}

#[tokio::test]
async fn nested_replace_hits_the_memory_limit() {
    let renderer = renderer(no_fuel_memory(), 1);
    // Each replace multiplies the length by 1000: 10^9 bytes after three.
    let long = "x".repeat(1000);
    let content = format!(
        "{{{{ ('x'{})|length }}}}",
        format!("|replace('x', '{long}')").repeat(4)
    );
    assert_eq!(
        render(&renderer, &content).await,
        Err(TemplateError::MemoryLimit)
    );
    assert_recovers(&renderer).await;
}

#[tokio::test]
async fn repetition_is_capped_by_the_engine_even_without_fuel() {
    let renderer = renderer(no_fuel(), 1);
    let error = render(&renderer, "{{ ('-' * 10**9)|length }}")
        .await
        .unwrap_err();
    assert!(matches!(error, TemplateError::Render { .. }), "{error:?}");
    let error = render(&renderer, "{{ ([0] * 10**9)|length }}")
        .await
        .unwrap_err();
    assert!(matches!(error, TemplateError::Render { .. }), "{error:?}");
    assert_recovers(&renderer).await;
}

#[tokio::test]
async fn endless_loops_time_out() {
    let renderer = renderer(no_fuel(), 1);
    let started = Instant::now();
    assert_eq!(
        render(
            &renderer,
            "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
        )
        .await,
        Err(TemplateError::Timeout)
    );
    // Stopped by the wall-time limit (1 s here), not before it.
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
    assert!(renderer.idle_workers().is_empty(), "the worker was killed");
    assert_recovers(&renderer).await;
}

// ---- The pool. ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_renders_share_two_workers() {
    let renderer = std::sync::Arc::new(renderer(Limits::default(), 2));
    let expected =
        render_in_process(&common::email(), &common::email_data(), &Limits::default()).unwrap();
    let renders: Vec<_> = (0..20)
        .map(|n| {
            let renderer = renderer.clone();
            tokio::spawn(async move {
                let mut data = common::email_data();
                data.insert("manager".into(), json!({"name": format!("Manager {n}")}));
                let rendered = renderer.render(&common::email(), &data).await;
                (n, rendered)
            })
        })
        .collect();
    for render in renders {
        let (n, rendered) = render.await.unwrap();
        let rendered = rendered.unwrap();
        assert_eq!(rendered.subject, expected.subject);
        assert!(
            rendered.content.contains(&format!("Manager {n}<br>")),
            "render {n}"
        );
    }
    let idle = renderer.idle_workers();
    assert!(!idle.is_empty() && idle.len() <= 2, "{idle:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_template_does_not_disturb_concurrent_renders() {
    let renderer = std::sync::Arc::new(renderer(no_fuel_memory(), 2));
    let bomb = {
        let renderer = renderer.clone();
        tokio::spawn(async move {
            render(&renderer, "{% set ns = namespace(s='x') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}").await
        })
    };
    for _ in 0..10 {
        assert_recovers(&renderer).await;
    }
    assert_eq!(bomb.await.unwrap(), Err(TemplateError::MemoryLimit));
    assert_recovers(&renderer).await;
}

fn kill(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn a_worker_killed_while_idle_is_replaced() {
    let renderer = renderer(Limits::default(), 1);
    assert_recovers(&renderer).await;
    let [first] = renderer.idle_workers()[..] else {
        panic!("one idle worker")
    };
    kill(first);
    // Right away: the kill may or may not have landed before the next request.
    assert_recovers(&renderer).await;
    let [second] = renderer.idle_workers()[..] else {
        panic!("one idle worker")
    };
    assert_ne!(first, second);
    kill(second);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_recovers(&renderer).await;
    let [third] = renderer.idle_workers()[..] else {
        panic!("one idle worker")
    };
    assert_ne!(second, third);
}

#[tokio::test]
async fn a_worker_that_cannot_start_is_unavailable() {
    let renderer = Renderer::new(
        WorkerCommand {
            program: "/nonexistent/crm-render-worker".into(),
            args: Vec::new(),
        },
        Limits::default(),
        1,
    );
    let error = render(&renderer, "hi").await.unwrap_err();
    assert!(matches!(error, TemplateError::Unavailable(_)), "{error:?}");
    assert!(!error.is_user_error());
}

#[tokio::test]
async fn a_worker_that_breaks_the_protocol_is_unavailable() {
    // `cat` echoes the request: not a response.
    let renderer = Renderer::new(
        WorkerCommand {
            program: "cat".into(),
            args: Vec::new(),
        },
        Limits::default(),
        1,
    );
    let error = render(&renderer, "hi").await.unwrap_err();
    assert!(matches!(error, TemplateError::Unavailable(_)), "{error:?}");
    // `true` exits at once without answering: to the pool that is a worker
    // dying mid-request, i.e. the template's fault.
    let renderer = Renderer::new(
        WorkerCommand {
            program: "true".into(),
            args: Vec::new(),
        },
        Limits::default(),
        1,
    );
    assert_eq!(
        render(&renderer, "hi").await,
        Err(TemplateError::MemoryLimit)
    );
}
