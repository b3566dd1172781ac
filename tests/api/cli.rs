//! The command line as a user meets it: exit codes, messages and `--json`.

use std::path::Path;
use std::process::{Command, Output};

use crate::helpers::repo;

pub(crate) fn accord(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_accord"))
        .current_dir(dir)
        .env("ACCORD_DATA_DIR", dir.join("data"))
        .env("ACCORD_WORKFLOWS_DIR", repo().join("workflows"))
        .env("ACCORD_TEMPLATES_DIR", repo().join("templates"))
        .env("ACCORD_PARTIES", REVIEWERS)
        .env_remove("ACCORD_DATABASE_URL")
        .env_remove("ACCORD_BENCH_POSTGRES_URL")
        .env_remove("ACCORD_CONFIG")
        .args(args)
        .output()
        .unwrap()
}

/// The configured reviewers, as the environment gives them.
const REVIEWERS: &str = "{reviewers=\"reviewers@contoso.example\"}";

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn check_passes_on_the_shipped_workflows() {
    let dir = tempfile::tempdir().unwrap();
    let out = accord(dir.path(), &["check"]);
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("0 problem(s)"));
}

#[test]
fn bench_refuses_postgres_measurements_without_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let out = accord(dir.path(), &["bench", "--duration", "1s", "--rows", "1000"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("--rows measures PostgreSQL: add --postgres"), "{err}");

    let out = accord(dir.path(), &["bench", "--duration", "1s", "--no-sqlite", "--graphile"]);
    assert!(!out.status.success(), "nothing to measure without SQLite and PostgreSQL");
    let err = text(&out.stderr);
    assert!(err.contains("--graphile and --no-sqlite measure PostgreSQL: add --postgres"), "{err}");
}

#[test]
fn check_reports_each_problem_with_file_line_and_hint() {
    let dir = tempfile::tempdir().unwrap();
    let workflows = dir.path().join("flows");
    std::fs::create_dir_all(&workflows).unwrap();
    let source = std::fs::read_to_string(repo().join("workflows/example_signup.toml")).unwrap();
    let broken = source
        .replace("after = \"2d\"", "after = \"2 fortnights\"")
        .replace("on.approve = { to = \"approved\" }", "on.approve = { to = \"aproved\" }")
        .replace("guards = [\"has_reason\"]", "guards = [\"has_reasons\"]")
        .replace(
            "[states.awaiting_verification.on.remind]\nemails = [{ template = \"verify_reminder\"",
            "[states.awaiting_verification.on.remind]\nemails = [{ template = \"verify_remindr\"",
        );
    std::fs::write(workflows.join("example_signup.toml"), broken).unwrap();
    std::fs::write(workflows.join("broken.toml"), "name = \"broken\"\ninitial = [\n").unwrap();

    let out = accord(dir.path(), &["check", "--workflows", workflows.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let report = text(&out.stdout);
    let line_of = |needle: &str| source.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let file = workflows.join("example_signup.toml").display().to_string();
    for (needle, message) in [
        ("name = \"reminder\"", "bad duration `2 fortnights`"),
        ("on.approve = ", "unknown state `aproved`"),
        ("guards = [\"has_reason\"]", "unknown guard `has_reasons`"),
    ] {
        let prefix = format!("{file}:{}:", line_of(needle));
        assert!(
            report.lines().any(|l| l.starts_with(&prefix) && l.contains(message)),
            "{message} at {prefix} in:\n{report}"
        );
    }
    assert!(report.contains("hint: known guards: has_message, has_reason"), "{report}");
    assert!(report.contains("unknown template `verify_remindr`"), "{report}");
    assert!(report.contains("hint: create templates/email/example_signup/verify_remindr.subject.tera"), "{report}");
    assert!(report.contains("approved` cannot be reached"), "{report}");
    assert!(report.contains("broken.toml:2:"), "malformed TOML is located:\n{report}");
}

#[test]
fn start_show_event_and_graph_work_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.json");
    std::fs::write(&input, serde_json::to_string(&crate::helpers::signup_input()).unwrap()).unwrap();
    let out = accord(dir.path(), &["--json", "start", "example_signup", "--input", input.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let started: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = started["instance"]["id"].as_str().unwrap();

    let out = accord(dir.path(), &["event", id, "verify"]);
    assert_eq!(text(&out.stdout).trim(), "verify: awaiting_verification -> in_review");
    let out = accord(dir.path(), &["event", id, "reject"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("needs a reason"), "{}", text(&out.stderr));
    let out = accord(dir.path(), &["--json", "event", id, "verify"]);
    assert_eq!(out.status.code(), Some(1));
    let error: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(error["error"]["code"], "event_not_allowed");

    let out = accord(dir.path(), &["show", id]);
    let shown = text(&out.stdout);
    assert!(shown.contains("state    in_review (active, version 2)"), "{shown}");
    assert!(shown.contains("review_deadline"), "{shown}");

    let out = accord(dir.path(), &["graph", "example_signup", "--instance", id]);
    let dot = text(&out.stdout);
    assert!(dot.starts_with("digraph \"example_signup\""), "{dot}");
    assert!(dot.contains("\"awaiting_verification\" -> \"in_review\" [label=\"verify (link)\"]"), "{dot}");
    assert!(dot.contains("\"in_review\" [style=\"rounded,filled\", fillcolor=\"#cfe8ff\", penwidth=2]"), "{dot}");

    let out = accord(dir.path(), &["start", "no_such", "--input", input.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr)
            .contains("unknown workflow `no_such`; known workflows: customer_agreement, customer_invitation"),
        "{}",
        text(&out.stderr)
    );

    std::fs::write(&input, "{\"company\": ").unwrap();
    let out = accord(dir.path(), &["start", "example_signup", "--input", input.to_str().unwrap()]);
    assert!(text(&out.stderr).contains("reading --input: not valid JSON"), "{}", text(&out.stderr));
}

#[test]
fn an_unreachable_database_is_named_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_accord"))
        .current_dir(dir.path())
        .env("ACCORD_DATABASE_URL", "postgres://accord:hunter2@127.0.0.1:9/accord")
        .args(["migrate"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("cannot reach the database at postgres://accord:***@127.0.0.1:9/accord"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn keys_are_printed_once_and_scopes_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let out = accord(dir.path(), &["--json", "keys", "create", "--scope", "pipeline", "--label", "crm"]);
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(created["key"].as_str().unwrap().starts_with("acc_"));
    assert_eq!(created["scope"], "pipeline");
    let out = accord(dir.path(), &["keys", "create", "--scope", "root"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("expected one of admin, reviewer, pipeline"), "{}", text(&out.stderr));
}

#[test]
fn partner_keys_are_made_listed_and_revoked_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let add = [
        "--json",
        "partners",
        "add-provider",
        "--legal-name",
        "Fabrikam",
        "--country",
        "IT",
        "--mpn-id",
        "7654321",
        "--tenant-domain",
        "fabrikam.example",
        "--serves",
        "IT",
        "--admin-name",
        "Luca Verdi",
        "--admin-email",
        "luca@fabrikam.example",
    ];
    let out = accord(dir.path(), &add);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let partner = serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["id"].as_str().unwrap().to_owned();

    let create = ["keys", "create", "--partner", &partner, "--user", "LUCA@fabrikam.example", "--expires", "90d"];
    let out = accord(dir.path(), &create);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "the key alone on stdout: {stdout}");
    assert!(stdout.starts_with("acc_"));
    assert!(text(&out.stderr).contains("acting as luca@fabrikam.example"), "{}", text(&out.stderr));

    let out = accord(dir.path(), &["keys", "create", "--partner", &partner, "--user", "nobody@fabrikam.example"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("is not a user of Fabrikam"), "{}", text(&out.stderr));
    let out = accord(dir.path(), &["keys", "create", "--partner", &partner, "--scope", "admin"]);
    assert_eq!(out.status.code(), Some(2), "a partner key takes no scope");
    let out = accord(dir.path(), &["keys", "create", "--scope", "partner"]);
    assert!(text(&out.stderr).contains("--partner <PARTNER_ID> --user <EMAIL>"), "{}", text(&out.stderr));

    let out = accord(dir.path(), &["--json", "keys", "list"]);
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let key = &listed["items"][0];
    assert_eq!((key["kind"].as_str(), key["user"].as_str()), (Some("partner"), Some("luca@fabrikam.example")));
    assert!(key["expires_at"].is_string() && key["revoked_at"].is_null(), "{key}");
    let id = key["id"].as_str().unwrap().to_owned();
    let out = accord(dir.path(), &["keys", "revoke", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = accord(dir.path(), &["keys", "list"]);
    let table = text(&out.stdout);
    assert!(table.starts_with("ID\tKIND\tPARTNER\tUSER"), "{table}");
    assert!(!table.lines().nth(1).unwrap().ends_with("\t-"), "revoked: {table}");
    let out = accord(dir.path(), &["keys", "revoke", &uuid::Uuid::new_v4().to_string()]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn access_prints_the_authorisation_table() {
    let dir = tempfile::tempdir().unwrap();
    let out = accord(dir.path(), &["access"]);
    assert!(out.status.success());
    assert_eq!(text(&out.stdout).trim_end(), accord::access::markdown().trim_end());
}

#[test]
fn a_missing_configuration_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = accord(dir.path(), &["--config", "nope.toml", "check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("nope.toml does not exist"), "{}", text(&out.stderr));
}

#[test]
fn check_renders_every_template_in_every_locale() {
    let dir = tempfile::tempdir().unwrap();
    let (workflows, templates) = crate::helpers::copy_definitions(dir.path());
    let email = templates.join("email/example_signup");
    // An undefined variable in the default source, an Italian version written as a text part
    // without the Markdown source the default has, and a message whose link is not a link.
    std::fs::write(email.join("status_update.md.tera"), "Hello {{ contact.nickname }}\n").unwrap();
    std::fs::write(email.join("verify_email.it.subject.tera"), "Conferma il tuo indirizzo").unwrap();
    std::fs::write(email.join("verify_email.it.txt.tera"), "Ciao {{ contact.name }}: {{ links.verify }}").unwrap();
    let reminder =
        "Hi {{ contact.name }}, `{{ links.verify }}` [not me]({{ links.not_me }}) by {{ dates.timers.expiry }}";
    std::fs::write(email.join("verify_reminder.md.tera"), reminder).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_accord"))
        .current_dir(dir.path())
        .env("ACCORD_WORKFLOWS_DIR", &workflows)
        .env("ACCORD_TEMPLATES_DIR", &templates)
        .env_remove("ACCORD_PARTIES")
        .args(["check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report = text(&out.stdout);
    assert!(report.contains("email `status_update` (en) does not render with the sample input"), "{report}");
    assert!(report.contains("contact.nickname"), "{report}");
    assert!(report.contains("email `verify_email` in locale `it` has no md part, which the default has"), "{report}");
    assert!(report.contains("email `verify_email` (it) does not put link `not_me` in its text part"), "{report}");
    assert!(report.contains("hint: create email/example_signup/verify_email.it.md.tera"), "{report}");
    assert!(report.contains("email `verify_reminder` (en) does not link `verify` in its HTML part"), "{report}");
    assert!(
        report
            .contains("party `reviewers` takes its address from the configuration, but `parties.reviewers` is not set"),
        "{report}"
    );
}

#[test]
fn without_an_smtp_server_mail_is_written_as_eml_files() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.json");
    std::fs::write(&input, serde_json::to_string(&crate::helpers::signup_input()).unwrap()).unwrap();
    let out = accord(dir.path(), &["start", "example_signup", "--input", input.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let port = format!("127.0.0.1:{}", crate::helpers::free_port());
    let mut server = Command::new(env!("CARGO_BIN_EXE_accord"))
        .current_dir(dir.path())
        .env("ACCORD_DATA_DIR", dir.path().join("data"))
        .env("ACCORD_WORKFLOWS_DIR", repo().join("workflows"))
        .env("ACCORD_TEMPLATES_DIR", repo().join("templates"))
        .env("ACCORD_LISTEN", &port)
        .env("ACCORD_PARTIES", REVIEWERS)
        .env("ACCORD_SCHEDULER_POLL", "100ms")
        .env_remove("ACCORD_SMTP_URL")
        .env_remove("ACCORD_DATABASE_URL")
        .arg("serve")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mail_dir = dir.path().join("data/mail");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let eml = loop {
        let found = std::fs::read_dir(&mail_dir).ok().and_then(|mut d| d.find_map(|e| e.ok().map(|e| e.path())));
        if let Some(path) = found.filter(|p| p.extension().is_some_and(|e| e == "eml")) {
            break path;
        }
        assert!(std::time::Instant::now() < deadline, "no .eml file appeared in {}", mail_dir.display());
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    // The file is written before the attempt is recorded: wait for the record, then stop.
    let sent = loop {
        let out = accord(dir.path(), &["--json", "emails", "list", "--status", "sent"]);
        let sent: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        if !sent.as_array().unwrap().is_empty() {
            break sent;
        }
        assert!(std::time::Instant::now() < deadline, "the email was not recorded as sent");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(sent.as_array().unwrap().len(), 1);
    server.kill().unwrap();
    server.wait().unwrap();
    let raw = std::fs::read(&eml).unwrap();
    let message = mail_parser::MessageParser::default().parse(&raw).unwrap();
    assert_eq!(message.subject(), Some("Confirm your email address for Contoso Italia"));
    assert!(message.body_text(0).unwrap().contains("/l/"), "the personalised link is in the file");
}

#[test]
fn providers_are_added_and_listed_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let add = [
        "partners",
        "add-provider",
        "--legal-name",
        "Fabrikam Distribution",
        "--country",
        "it",
        "--mpn-id",
        "7654321",
        "--tenant-domain",
        "fabrikam.example",
        "--serves",
        "IT,sm",
        "--admin-name",
        "Luca Verdi",
        "--admin-email",
        "luca@fabrikam.example",
    ];
    let out = accord(dir.path(), &add);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = accord(dir.path(), &["--json", "partners", "--kind", "indirect_provider"]);
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed[0]["legal_name"], "Fabrikam Distribution");
    assert_eq!(listed[0]["served_countries"], serde_json::json!(["IT", "SM"]));
    assert_eq!(listed[0]["status"], "active");
    assert_eq!(listed[0]["users"][0]["roles"], serde_json::json!(["global_admin", "admin_agent"]));

    let mut bad = add;
    bad[11] = "IT,Italy";
    let out = accord(dir.path(), &bad);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("`Italy` is not an ISO 3166-1 alpha-2 country code"), "{}", text(&out.stderr));
}

#[test]
fn customers_and_their_relationships_are_managed_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let provider = |name: &str, email: &str| {
        let add = [
            "partners",
            "add-provider",
            "--legal-name",
            name,
            "--country",
            "IT",
            "--mpn-id",
            "7654321",
            "--tenant-domain",
            "fabrikam.example",
            "--serves",
            "IT",
            "--admin-name",
            "Luca Verdi",
            "--admin-email",
            email,
        ];
        let out = accord(dir.path(), &add);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout).trim().to_owned()
    };
    let advisor = provider("Adatum Advisors", "luca@adatum.example");
    let reseller = provider("Fabrikam Distribution", "luca@fabrikam.example");
    let out = accord(
        dir.path(),
        &[
            "customers",
            "add",
            "--name",
            "Northwind Traders",
            "--domain",
            "northwind.example",
            "--country",
            "IT",
            "--admin-name",
            "Giulia Bianchi",
            "--admin-email",
            "giulia@northwind.example",
            "--relationship",
            &format!("{advisor}=advisor"),
            "--relationship",
            &format!("{reseller}=reseller:dap"),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let customer = text(&out.stdout).trim().to_owned();

    let out = accord(dir.path(), &["customers", "delete-relationship", &customer, &reseller]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("Ask Fabrikam Distribution to end the relationship"), "{}", text(&out.stderr));
    let out = accord(dir.path(), &["--json", "customers", "delete-relationship", &customer, &reseller]);
    let error: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(error["error"]["code"], "ask_partner");
    let out = accord(
        dir.path(),
        &["customers", "delete-relationship", &customer, &advisor, "--by", "giulia@northwind.example"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains("Adatum"), "{}", text(&out.stdout));

    let out = accord(dir.path(), &["partners", "customers", &reseller]);
    let listed = text(&out.stdout);
    assert!(listed.contains("Northwind Traders") && listed.contains("reseller\tDAP"), "{listed}");
    let remove = [
        "partners",
        "remove-customer",
        &reseller,
        &customer,
        "--by",
        "luca@fabrikam.example",
        "--reason",
        "contract ended",
    ];
    let out = accord(dir.path(), &remove);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("attest"), "{}", text(&out.stderr));
    let out = accord(dir.path(), &[&remove[..], &["--attest"]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("no notice was sent"), "{}", text(&out.stdout));
    let out = accord(dir.path(), &["partners", "customers", &reseller]);
    assert_eq!(text(&out.stdout).trim(), "", "the customer left the list");
    let out = accord(dir.path(), &["audit", &format!("customer:{customer}")]);
    let audit = text(&out.stdout);
    assert!(audit.contains("customer_relationship_removed\treason: contract ended"), "{audit}");
    assert!(
        audit.contains("luca@fabrikam.example\tcli\tcustomer_relationship_removed"),
        "the person and the principal apart: {audit}"
    );
}

/// `accord bench` on PostgreSQL with two nodes prints every link-click figure it promises, on one
/// node and on two, each a positive number of milliseconds beside its reference. The values are
/// the benchmark's business, not the test's.
#[tokio::test]
async fn bench_measures_link_clicks_on_one_node_and_on_two() {
    let Some(db) = crate::helpers::TestDb::new(crate::helpers::Backend::Postgres).await else { return };
    let dir = tempfile::tempdir().unwrap();
    let args = ["--json", "bench", "--no-sqlite", "--clients", "2", "--duration", "1s", "--links", "20"];
    let out = accord(dir.path(), &[&args[..], &["--nodes", "2", "--postgres", &db.url]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let figures = report["figures"].as_array().unwrap();
    for backend in ["postgres", "postgres×n"] {
        for metric in ["page p50 ms", "page p99 ms", "click p50 ms", "click p99 ms"] {
            let figure = figures
                .iter()
                .find(|f| f["backend"] == backend && f["metric"] == metric)
                .unwrap_or_else(|| panic!("no {backend} {metric} in {report}"));
            assert!(figure["value"].as_f64().unwrap() > 0.0, "{figure}");
            assert!(figure["reference"].as_str().unwrap().starts_with("GET /healthz"), "{figure}");
        }
    }
}

/// Issue 16: the email of an instance that ended is `cancelled`, listed as such, and a retry of it
/// is refused with `instance_finished` and what to do next.
#[test]
fn an_ended_instances_email_is_listed_cancelled_and_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("contact.json");
    std::fs::write(&input, crate::helpers::signup_input().to_string()).unwrap();
    let out = accord(dir.path(), &["--json", "start", "example_signup", "--input", input.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let started: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = started["instance"]["id"].as_str().or(started["id"].as_str()).expect("the instance id").to_owned();
    let out = accord(dir.path(), &["event", &id, "withdraw"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = accord(dir.path(), &["--json", "emails", "list", "--status", "cancelled"]);
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let emails = listed.as_array().unwrap();
    assert_eq!(emails.len(), 1, "{listed}");
    assert_eq!(emails[0]["status"], "cancelled");
    let email = emails[0]["id"].as_str().unwrap();
    let out = accord(dir.path(), &["--json", "emails", "retry", email]);
    assert!(!out.status.success());
    let refused: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(refused["error"]["code"], "instance_finished", "{refused}");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains("has ended (withdrawn)") && message.contains("start a new instance"), "{message}");
}

#[test]
fn list_filters_by_status_and_searches_the_instances_data() {
    let dir = tempfile::tempdir().unwrap();
    for (name, email) in [("Contoso Italia", "anna.rossi@contoso.it"), ("Fabrikam", "luca@fabrikam.example")] {
        let mut input = crate::helpers::signup_input();
        input["company"]["name"] = name.into();
        input["contact"]["email"] = email.into();
        let file = dir.path().join("input.json");
        std::fs::write(&file, input.to_string()).unwrap();
        let out = accord(dir.path(), &["start", "example_signup", "--input", file.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let list = |args: &[&str]| -> Vec<serde_json::Value> {
        let out = accord(dir.path(), &[&["--json", "list"], args].concat());
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap().as_array().unwrap().clone()
    };
    let found = list(&["--search", "FABRIKAM.example"]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["context"]["company"]["name"], "Fabrikam");
    assert_eq!(list(&["--status", "active"]).len(), 2);
    assert!(list(&["--status", "finished"]).is_empty());
    assert_eq!(list(&["--limit", "1", "--offset", "1"]).len(), 1);

    let out = accord(dir.path(), &["list", "--status", "done"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("possible values: active, finished"), "{}", text(&out.stderr));
}
