//! The README's walkthrough, run as a new user would paste it: twice in a
//! row against a live server, after the example `crm serve` prints. Every
//! step must succeed, and the two mistakes it shows must be the problems it
//! says they are.

use crm_tests::TestApp;
use event_schemas::Role;
use serde_json::Value;

/// The shell block between the walkthrough markers of README.md.
fn walkthrough() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md is readable");
    let start = readme
        .find("<!-- walkthrough:start")
        .expect("README.md marks the walkthrough's start");
    let end = readme
        .find("<!-- walkthrough:end -->")
        .expect("README.md marks the walkthrough's end");
    let block = &readme[start..end];
    let code = block
        .split_once("```sh\n")
        .expect("a sh code block")
        .1
        .rsplit_once("```")
        .expect("the block ends")
        .0;
    code.to_owned()
}

fn run(app: &TestApp, token: &str, script: &str) -> (bool, String, String) {
    let output = std::process::Command::new("bash")
        .arg("-c")
        // Stop at the first failed step, as a reader would.
        .arg(format!("set -eo pipefail\n{script}"))
        .env("B", &app.base)
        .env("TOKEN", token)
        .output()
        .expect("bash runs (curl and jq are installed by scripts/services.sh)");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The JSON documents printed one after the other.
fn documents(text: &str) -> Vec<Value> {
    serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .map_while(Result::ok)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_walkthrough_succeeds_twice_in_a_row_after_the_serve_example() {
    let app = TestApp::spawn().await;
    let token = app.token("demo", Role::Admin);
    let script = walkthrough();

    // The example `crm serve` prints first (its email is unique per run too).
    let example = format!(
        "curl -sS --fail-with-body -X POST {}/v1/customers -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \
         -d '{{\"first_name\":\"Marc\",\"last_name\":\"Gagnon\",\"email\":\"marc.'$(date +%s%N)'@example.com\"}}'",
        app.base
    );
    for _ in 0..2 {
        let (ok, out, err) = run(&app, &token, &example);
        assert!(ok, "the serve example failed: {out}{err}");
    }

    for round in 1..=2 {
        let (ok, out, err) = run(&app, &token, &script);
        assert!(
            ok,
            "round {round}: a step failed\nstdout:\n{out}\nstderr:\n{err}"
        );
        let docs = documents(&out);
        let problems: Vec<&Value> = docs
            .iter()
            .filter(|d| d.get("status").is_some_and(Value::is_u64))
            .collect();
        // Exactly the two mistakes it shows, as it describes them.
        assert_eq!(problems.len(), 2, "round {round}: {out}");
        assert_eq!(problems[0]["status"], 422);
        let fields: Vec<&str> = problems[0]["errors"]
            .as_array()
            .expect("the 422 lists its fields")
            .iter()
            .filter_map(|e| e["field"].as_str())
            .collect();
        assert!(fields.contains(&"estimated_value"), "{fields:?}");
        assert!(fields.contains(&"estimated_move_date"), "{fields:?}");
        assert_eq!(problems[1]["status"], 409);
        // The last line is the lead's status, moved by the sales process.
        assert_eq!(
            out.trim_end().lines().last(),
            Some("\"WON\""),
            "round {round}: {out}"
        );
        // Nothing it printed says null where an id belongs.
        assert!(!err.contains("/null"), "round {round}: {err}");
    }
}
