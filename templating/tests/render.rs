//! Checking and rendering in process: the rendering rules and the limits that
//! the engine enforces by itself (fuel, output cap, recursion, size checks).

mod common;

use serde_json::{Map, Value, json};
use templating::{Escape, Limits, Source, TemplateError, check, render_in_process};

fn data(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

fn plain(content: &str) -> Source {
    Source {
        subject: None,
        content: content.to_owned(),
        escape: Escape::Plain,
    }
}

fn render(content: &str) -> Result<String, TemplateError> {
    render_in_process(&plain(content), &Map::new(), &Limits::default()).map(|r| r.content)
}

#[test]
fn renders_the_realistic_email() {
    let rendered =
        render_in_process(&common::email(), &common::email_data(), &Limits::default()).unwrap();
    assert_eq!(
        rendered.subject.as_deref(),
        Some("Your moving quote Q-2025-0042 for Sunday 15 June")
    );
    let content = &rendered.content;
    assert!(content.contains("Dear Zoë O&#x27;Brien,"), "{content}");
    assert!(
        content.contains("<td>£ 4,138.80</td>") || content.contains("£ 4,138.80"),
        "{content}"
    );
    assert!(content.contains("fragile &lt;glass&gt;"), "{content}");
    assert!(
        content.contains("Move: Sunday 15 June 2025, 07:30 to 18:00"),
        "{content}"
    );
    assert!(
        content.contains("We will also text you on +44 7700 900123"),
        "{content}"
    );
    assert!(
        !content.contains("none"),
        "null renders as nothing: {content}"
    );
    assert!(content.len() > 4000, "two pages: {}", content.len());
}

/// The fuel a realistic two-page email needs, found by bisection; the default
/// is at least 20 times that.
#[test]
fn default_fuel_is_twenty_times_a_realistic_email() {
    let (source, data) = (common::email(), common::email_data());
    let fits = |fuel| {
        let limits = Limits {
            fuel,
            ..Limits::default()
        };
        render_in_process(&source, &data, &limits).is_ok()
    };
    let (mut low, mut high) = (1u64, Limits::default().fuel);
    assert!(fits(high));
    while low < high {
        let middle = (low + high) / 2;
        if fits(middle) {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    eprintln!(
        "the realistic email needs {low} fuel; the default is {}",
        Limits::default().fuel
    );
    assert!(Limits::default().fuel >= 20 * low, "needs {low}");
    assert!(
        Limits::default().fuel <= 40 * low,
        "needs {low}: the default is loose"
    );
}

#[test]
fn html_escaping_applies_to_the_content_only() {
    let source = Source {
        subject: Some("Hi {{ name }}".into()),
        content: "<p>{{ name }} {{ html|safe }}</p>".into(),
        escape: Escape::Html,
    };
    let variables = data(json!({"name": "Tom & <Jerry>", "html": "<b>x</b>"}));
    let rendered = render_in_process(&source, &variables, &Limits::default()).unwrap();
    assert_eq!(rendered.subject.as_deref(), Some("Hi Tom & <Jerry>"));
    assert_eq!(rendered.content, "<p>Tom &amp; &lt;Jerry&gt; <b>x</b></p>");
    let plain = Source {
        escape: Escape::Plain,
        ..source
    };
    let rendered = render_in_process(&plain, &variables, &Limits::default()).unwrap();
    assert_eq!(rendered.content, "<p>Tom & <Jerry> <b>x</b></p>");
}

#[test]
fn the_subject_is_one_line_so_no_header_can_be_injected() {
    let source = Source {
        subject: Some("Quote for {{ name }}\n{% if true %}\n  ready{% endif %}".into()),
        content: String::new(),
        escape: Escape::Html,
    };
    let variables = data(json!({"name": "Ann\r\nBcc: victim@example.com"}));
    let rendered = render_in_process(&source, &variables, &Limits::default()).unwrap();
    let subject = rendered.subject.unwrap();
    assert_eq!(subject, "Quote for Ann Bcc: victim@example.com ready");
    assert!(!subject.contains(['\r', '\n']));
}

#[test]
fn undefined_variables_are_errors_naming_the_path() {
    let variables = data(json!({"customer": {"first_name": "Ann", "address": {}}}));
    let source = plain("Hello {{ customer.first_name }},\nyour city: {{ customer.address.city }}");
    assert_eq!(
        render_in_process(&source, &variables, &Limits::default()),
        Err(TemplateError::Undefined {
            field: "content",
            name: "customer.address.city".into(),
            line: Some(2)
        })
    );
    let source = plain("{{ customer.first_name }}\n\n{{ quote.total|money }}");
    assert_eq!(
        render_in_process(&source, &variables, &Limits::default()),
        Err(TemplateError::Undefined {
            field: "content",
            name: "quote".into(),
            line: Some(3)
        })
    );
    // A method on a missing attribute.
    let source = plain("{{ customer.last_name.upper() }}");
    assert_eq!(
        render_in_process(&source, &variables, &Limits::default()),
        Err(TemplateError::Undefined {
            field: "content",
            name: "customer.last_name".into(),
            line: Some(1)
        })
    );
    // In the subject.
    let source = Source {
        subject: Some("For {{ lead.name }}".into()),
        ..plain("x")
    };
    assert_eq!(
        render_in_process(&source, &variables, &Limits::default()),
        Err(TemplateError::Undefined {
            field: "subject",
            name: "lead".into(),
            line: Some(1)
        })
    );
    // Optional data can be tested for, and a branch not taken is not an error.
    let source = plain(
        "{% if customer.phone is defined %}{{ customer.phone }}{% else %}no phone{% endif %} \
         {{ customer.nickname|default('friend') }}",
    );
    assert_eq!(
        render_in_process(&source, &variables, &Limits::default())
            .unwrap()
            .content,
        "no phone friend"
    );
}

#[test]
fn check_reports_syntax_errors_with_field_and_line() {
    let limits = Limits::default();
    let error = check(&plain("Hello\n{{ customer.name }\n"), &limits).unwrap_err();
    assert!(
        matches!(
            error,
            TemplateError::Syntax {
                field: "content",
                line: 2,
                ..
            }
        ),
        "{error:?}"
    );
    let source = Source {
        subject: Some("{% if x %}".into()),
        ..plain("fine")
    };
    let error = check(&source, &limits).unwrap_err();
    assert!(
        matches!(
            error,
            TemplateError::Syntax {
                field: "subject",
                line: 1,
                ..
            }
        ),
        "{error:?}"
    );
    // Rendering reports the same.
    assert_eq!(
        render_in_process(&source, &Map::new(), &limits).unwrap_err(),
        error
    );
}

#[test]
fn check_lists_the_variables_a_template_reads() {
    let variables = check(&common::email(), &Limits::default()).unwrap();
    let roots: Vec<_> = variables.roots.iter().map(String::as_str).collect();
    assert_eq!(
        roots,
        [
            "company", "customer", "invoice", "job", "lead", "manager", "quote", "schedule"
        ]
    );
    for path in [
        "customer.first_name",
        "lead.from_address.city",
        "quote.items",
        "job.starts_at",
    ] {
        assert!(
            variables.paths.contains(path),
            "{path}: {:?}",
            variables.paths
        );
    }
    // Loop variables, `loop`, engine globals and set variables are not data.
    let source = plain(
        "{% set x = 1 %}{% for i in range(3) %}{{ loop.index }}{{ i }}{{ x }}{% endfor %}\
         {% set ns = namespace(a=1) %}{{ ns.a }}{{ dict(a=1) }}",
    );
    assert_eq!(
        check(&source, &Limits::default()).unwrap(),
        templating::Variables::default()
    );
}

#[test]
fn sources_over_the_limits_are_refused() {
    let limits = Limits::default();
    let big = plain(&"x".repeat(64 * 1024 + 1));
    let expected = TemplateError::TooLarge {
        field: "content",
        limit: 64 * 1024,
    };
    assert_eq!(check(&big, &limits), Err(expected.clone()));
    assert_eq!(render_in_process(&big, &Map::new(), &limits), Err(expected));
    let source = Source {
        subject: Some("s".repeat(999)),
        ..plain("x")
    };
    let expected = TemplateError::TooLarge {
        field: "subject",
        limit: 998,
    };
    assert_eq!(check(&source, &limits), Err(expected.clone()));
    assert_eq!(
        render_in_process(&source, &Map::new(), &limits),
        Err(expected)
    );
}

#[test]
fn runtime_errors_are_render_errors_with_the_line() {
    let error = render("a\n{{ 'x'|money }}").unwrap_err();
    assert!(
        matches!(&error, TemplateError::Render { field: "content", line: Some(2), message } if message.contains("not a number")),
        "{error:?}"
    );
    let error = render("{{ 1 + 'a' }}").unwrap_err();
    assert!(
        matches!(error, TemplateError::Render { line: Some(1), .. }),
        "{error:?}"
    );
    // Templates cannot include, import or extend others (not even parse them).
    let error = render("{% include 'other' %}").unwrap_err();
    assert!(
        matches!(error, TemplateError::Syntax { line: 1, .. }),
        "{error:?}"
    );
}

#[test]
fn filters_money_and_date() {
    let variables =
        data(json!({"total": "1234.5", "n": 99.999, "at": "2025-06-15T07:30:00+01:00"}));
    let source = plain(
        "{{ total|money }} {{ total|money(',') }} {{ n|money }} {{ at|date('%d/%m/%Y %H:%M') }} {{ at|date }}",
    );
    assert_eq!(
        render_in_process(&source, &variables, &Limits::default())
            .unwrap()
            .content,
        "1234.50 1,234.50 100.00 15/06/2025 07:30 2025-06-15"
    );
}

// ---- The limits the engine enforces by itself (with the default limits). ----

#[test]
fn string_repetition_runs_out_of_fuel() {
    assert_eq!(render("{{ '-' * 10**9 }}"), Err(TemplateError::OutOfFuel));
}

#[test]
fn sequence_repetition_is_refused() {
    let error = render("{{ ([0] * 10**9)|length }}").unwrap_err();
    assert!(
        matches!(&error, TemplateError::Render { message, .. } if message.contains("repeated sequence is too large")),
        "{error:?}"
    );
}

#[test]
fn huge_ranges_are_refused() {
    let error = render("{% for i in range(10**9) %}{% endfor %}").unwrap_err();
    assert!(
        matches!(&error, TemplateError::Render { message, .. } if message.contains("range has too many elements")),
        "{error:?}"
    );
}

#[test]
fn huge_indent_runs_out_of_fuel() {
    let variables = data(json!({"text": "a\nb\nc"}));
    let source = plain("{{ text|indent(width=10**9) }}");
    assert_eq!(
        render_in_process(&source, &variables, &Limits::default()),
        Err(TemplateError::OutOfFuel)
    );
    let source = plain("{{ text|indent(width=2) }}");
    assert_eq!(
        render_in_process(&source, &variables, &Limits::default())
            .unwrap()
            .content,
        "a\n  b\n  c"
    );
}

#[test]
fn namespace_doubling_runs_out_of_fuel() {
    assert_eq!(
        render(
            "{% set ns = namespace(s='x') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}"
        ),
        Err(TemplateError::OutOfFuel)
    );
}

#[test]
fn recursive_macro_doubling_runs_out_of_fuel() {
    assert_eq!(
        render(
            "{% macro d(s, n) %}{% if n > 0 %}{{ d(s ~ s, n - 1) }}{% else %}{{ s|length }}{% endif %}{% endmacro %}{{ d('x' * 100000, 40) }}"
        ),
        Err(TemplateError::OutOfFuel)
    );
}

#[test]
fn nested_replace_runs_out_of_fuel() {
    let long = "x".repeat(60);
    let content = format!(
        "{{{{ 'x'{} }}}}",
        format!("|replace('x', '{long}')").repeat(6)
    );
    assert_eq!(render(&content), Err(TemplateError::OutOfFuel));
}

#[test]
fn unbounded_recursion_hits_the_recursion_limit() {
    let error = render("{% macro r(n) %}{{ r(n + 1) }}{% endmacro %}{{ r(0) }}").unwrap_err();
    assert!(
        matches!(&error, TemplateError::Render { message, .. } if message.contains("recursion limit")),
        "{error:?}"
    );
}

#[test]
fn nested_loops_run_out_of_fuel() {
    assert_eq!(
        render("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"),
        Err(TemplateError::OutOfFuel)
    );
}

#[test]
fn megabytes_of_output_are_too_large() {
    // 1 MiB from 16 KiB chunks: within fuel (about 16 000), over the output cap.
    let limits = Limits {
        fuel: 1_000_000,
        ..Limits::default()
    };
    let source = plain("{% for i in range(64) %}{{ '0123456789abcdef' * 1024 }}{% endfor %}");
    assert_eq!(
        render_in_process(&source, &Map::new(), &limits),
        Err(TemplateError::OutputTooLarge {
            field: "content",
            limit: 512 * 1024
        })
    );
    // With the default fuel it stops either way, never with a generic error.
    let error = render_in_process(&source, &Map::new(), &Limits::default()).unwrap_err();
    assert!(
        matches!(
            error,
            TemplateError::OutputTooLarge { .. } | TemplateError::OutOfFuel
        ),
        "{error:?}"
    );
    let source = Source {
        subject: Some("{{ 'x' * 999 }}".into()),
        ..plain("")
    };
    assert_eq!(
        render_in_process(&source, &Map::new(), &Limits::default()),
        Err(TemplateError::OutputTooLarge {
            field: "subject",
            limit: 998
        })
    );
}
