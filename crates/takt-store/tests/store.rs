//! The store end to end. The backend suite runs against SQLite and against a
//! real PostgreSQL server that this file installs (Debian's `postgresql`,
//! when `initdb` is missing), starts as the `postgres` user on a free port
//! and stops. Then EPCIS 2.0 conformance on the openepcis test suite, the
//! input formats, and the property test of the pure semantics.

use jiff::Timestamp;
use proptest::prelude::*;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use takt_core::Vin;
use takt_store::model::{ErrorDeclaration, LogRow};
use takt_store::semantics::{
    DEFAULT_POLICY, apply_subject, derive_subject, derive_vehicle, order_key,
};
use takt_store::{
    Answer, Code, EncodedBatch, Event, Flag, Rejected, ResourceEvent, Store, StoreError, TenantId,
    epcis, takt_format,
};

/// The schema version after every migration of this build.
const LATEST_SCHEMA: i64 =
    takt_store::backend::MIGRATIONS[takt_store::backend::MIGRATIONS.len() - 1].0;

const VIN_A: &str = "4T1DAACK4TU100001";
const VIN_B: &str = "5TDAAAB54RS000013";

/// The same content with another `location`.
fn elsewhere(content: &takt_store::model::Content) -> takt_store::model::Content {
    let mut v = content.value();
    v["location"] = serde_json::json!("ELSEWHERE");
    takt_store::model::Content::of(&v)
}

fn now() -> Timestamp {
    "2026-03-10T00:00:00Z".parse().unwrap()
}

fn tenant(s: &str) -> TenantId {
    TenantId::parse(s).unwrap()
}

fn temp_dir(what: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "takt-store-{what}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A milestone line as `takt simulate` writes it.
fn milestone(
    id: &str,
    vin: &str,
    m: &str,
    stage: &str,
    at: &str,
    location: &str,
) -> serde_json::Value {
    json!({"event_id": id, "vin": vin, "tenant": "toyota", "model": "camry", "milestone": m,
           "stage": stage, "at": at, "location": location, "resource": format!("{location}/x")})
}

fn events(lines: &[serde_json::Value]) -> Vec<Event> {
    let text: String = lines.iter().map(|l| l.to_string() + "\n").collect();
    takt_format::parse_json(&text)
        .unwrap()
        .into_iter()
        .map(|i| i.event)
        .collect()
}

fn journey(vin: &str, prefix: &str) -> Vec<serde_json::Value> {
    vec![
        milestone(
            &format!("{prefix}-1"),
            vin,
            "released",
            "released",
            "2026-03-02T06:00:00Z",
            "GEO",
        ),
        milestone(
            &format!("{prefix}-2"),
            vin,
            "inland_departed",
            "inland",
            "2026-03-02T12:00:00Z",
            "GEO",
        ),
        milestone(
            &format!("{prefix}-3"),
            vin,
            "port_arrived",
            "port_arrival",
            "2026-03-05T08:00:00Z",
            "USLGB",
        ),
        milestone(
            &format!("{prefix}-4"),
            vin,
            "hold_placed",
            "port_arrival",
            "2026-03-05T09:00:00Z",
            "USLGB",
        ),
        milestone(
            &format!("{prefix}-5"),
            vin,
            "processing_started",
            "processing",
            "2026-03-05T10:00:00Z",
            "USLGB",
        ),
    ]
}

fn rejected(r: Result<takt_store::AppendReport, StoreError>) -> Rejected {
    match r {
        Err(StoreError::Rejected(r)) => r,
        other => panic!("expected a rejected batch, got {other:?}"),
    }
}

// ---------------------------------------------------------------- the suite

/// Every case of the backend suite; `open` gives a store on a fresh or
/// reopened database (the argument names the database).
fn suite(open: &dyn Fn(&str) -> Store, url: &dyn Fn(&str) -> String) {
    duplicates_are_stored_once_and_answered(&open("dup"));
    same_id_different_content_is_a_conflict_naming_the_fields(&open("conflict"));
    batch_is_all_or_nothing_with_each_bad_index(&open("batch"));
    any_arrival_order_gives_the_same_state_and_history(&open("order"));
    any_split_into_batches_gives_the_state_of_one_batch(&open("split"));
    error_declaration_retracts_and_state_reverts(&open("retract"));
    late_skewed_out_of_order_flagged_far_future_rejected(&open("time"));
    tenants_never_see_each_other(&open("tenants"));
    resource_events_derive_latest_by_event_time(&open("resources"));
    simulated_run_replays_and_verifies(&open("sim"));
    simulated_milestones_read_back_equal(&open("readback"));
    encoded_and_audited_appends_store_what_append_stores(&open("enc_a"), &open("enc_b"));
    audited_appends_write_their_audit_rows(&open("audit"), &url("audit"));
    a_write_the_database_refuses_stores_nothing(&open("refused"), &url("refused"));
    a_batch_with_a_stored_id_in_a_group_stores_nothing(&open("stored_id"));
    a_group_whose_later_batch_reads_many_stored_rows_is_answered(&open("many_rows"));
    a_group_answers_and_stores_each_batch_as_alone(&open("group_a"), &open("group_b"));
    callers_on_many_threads_are_each_answered_for_their_own_batch(&open("shared"));
    migrations_are_versioned_and_data_survives_reopen(open);
}

/// The audit row a planner's `POST /v1/events` of tenant toyota makes.
fn audit_entry(report: &takt_store::AppendReport) -> takt_store::auth::AuditEntry {
    takt_store::auth::AuditEntry {
        seq: 0,
        at_ms: 1,
        tenant: "toyota".into(),
        token_id: "tk_test".into(),
        role: "planner".into(),
        method: "POST".into(),
        path: "/v1/events".into(),
        status: 200,
        detail: format!("{} events", report.items.len()),
    }
}

/// `append_encoded` (records made ahead) and `append_audited` (the audit
/// row in the batch's transaction) store the same rows and state as
/// `append`, and answer the same. (The audit rows themselves are checked
/// through the API: takt-server's `every_mutating_call_is_in_the_audit_log`.)
fn encoded_and_audited_appends_store_what_append_stores(plain: &Store, other: &Store) {
    let t = tenant("toyota");
    let first = events(&journey(VIN_A, "ea"));
    let second = events(&journey(VIN_B, "eb"));
    let entry = audit_entry;
    let a1 = plain.append(&t, &first, now()).unwrap();
    let a2 = plain.append(&t, &second, now()).unwrap();
    let b1 = other
        .append_encoded(&t, &takt_store::EncodedBatch::new(first.clone()), now())
        .unwrap();
    let b2 = other.append_audited(&t, &second, now(), &entry).unwrap();
    assert_eq!((a1, a2), (b1, b2));
    for vin in [VIN_A, VIN_B] {
        let subject = format!("vin:{vin}");
        assert_eq!(
            plain.rows(&t, &subject).unwrap(),
            other.rows(&t, &subject).unwrap()
        );
    }
    assert_eq!(plain.subjects(&t).unwrap(), other.subjects(&t).unwrap());
    assert!(other.verify(&t).unwrap().mismatched.is_empty());
    // Duplicates only (a transaction with the audit row alone), and a
    // conflict (rejected, nothing written).
    let again = other.append_audited(&t, &second, now(), &entry).unwrap();
    assert_eq!(again.count(Answer::Duplicate), second.len());
    let mut changed = second.clone();
    changed[0].content = elsewhere(&changed[0].content);
    assert!(other.append_audited(&t, &changed, now(), &entry).is_err());
    assert_eq!(other.count(&t).unwrap(), plain.count(&t).unwrap());
}

/// An audited append writes its audit row in the batch's transaction (on
/// PostgreSQL in the batch's write statement), a batch of duplicates only
/// writes it alone, and a rejected batch writes none.
fn audited_appends_write_their_audit_rows(store: &Store, url: &str) {
    let t = tenant("toyota");
    let batch = events(&journey(VIN_A, "au"));
    let entry = audit_entry;
    store.append_audited(&t, &batch, now(), &entry).unwrap();
    store.append_audited(&t, &batch, now(), &entry).unwrap();
    let mut changed = batch.clone();
    changed[0].content = elsewhere(&changed[0].content);
    assert!(store.append_audited(&t, &changed, now(), &entry).is_err());
    let log = takt_store::auth::AuthStore::open(url)
        .unwrap()
        .audit_log(&t, None, 10)
        .unwrap();
    let details: Vec<&str> = log.iter().map(|e| e.detail.as_str()).collect();
    let n = batch.len();
    assert_eq!(details, [format!("{n} events"), format!("{n} events")]);
    assert!(
        log.iter()
            .all(|e| e.path == "/v1/events" && e.status == 200)
    );
}

/// A write the database refuses (here a second row under a stored
/// event's id, which the log's unique key forbids) fails its transaction,
/// whether the refusal is answered at the write, at the next read (the
/// PostgreSQL backend sends a write with the request after it) or at the
/// commit; nothing of the transaction is stored, and the same connection
/// then stores the next transaction.
fn a_write_the_database_refuses_stores_nothing(store: &Store, url: &str) {
    use std::borrow::Cow;
    use takt_store::backend::{NewRow, record};
    let t = tenant("toyota");
    let first = events(&journey(VIN_A, "rf"));
    store.append(&t, &first[..1], now()).unwrap();
    let fresh = &first[1];
    fn row(e: &Event) -> NewRow<'_> {
        NewRow {
            event: e,
            record: Cow::Owned(record(e)),
            received_at: now(),
            flags: Vec::new(),
            subjects: &[],
        }
    }
    let mut backend = takt_store::backend::open(url).unwrap();
    let count = |backend: &mut Box<dyn takt_store::backend::Backend>| {
        backend.begin(&t, false).unwrap().count_rows(&t).unwrap()
    };
    // Refused at the write or at the commit.
    let mut tx = backend.begin(&t, true).unwrap();
    let refused = tx
        .write(&t, &[row(fresh), row(&first[0])], &[], None)
        .and_then(|()| tx.commit());
    assert!(
        refused.is_err(),
        "a second row under a stored id was written"
    );
    assert_eq!(count(&mut backend), 1);
    // Refused at the write or at the read after it.
    let mut tx = backend.begin(&t, true).unwrap();
    tx.states(&t, &[format!("vin:{VIN_A}")]).unwrap();
    let refused = tx
        .write(&t, &[row(fresh), row(&first[0])], &[], None)
        .and_then(|()| tx.states(&t, &[format!("vin:{VIN_A}")]).map(drop));
    assert!(
        refused.is_err(),
        "a second row under a stored id was written"
    );
    drop(tx);
    assert_eq!(count(&mut backend), 1);
    // The connection stores the next transaction.
    let mut tx = backend.begin(&t, true).unwrap();
    tx.write(&t, &[row(fresh)], &[], None).unwrap();
    tx.commit().unwrap();
    assert_eq!(count(&mut backend), 2);
}

/// A batch naming an id already stored, with more events than one
/// SQLite INSERT statement takes, in a group whose other batches are
/// stored: the batch is answered as alone (a conflict, or duplicates and
/// new events), and nothing of a rejected batch stays in the committed
/// transaction.
fn a_batch_with_a_stored_id_in_a_group_stores_nothing(store: &Store) {
    let t = tenant("toyota");
    store
        .append(&t, &events(&journey(VIN_A, "st-0")), now())
        .unwrap();
    let vin = |i: u32| {
        takt_core::Vin::assemble("4T1", "DAACK", 2026, 'U', &format!("{i:06}"))
            .unwrap()
            .to_string()
    };
    // 5 new events, then a stored id with other content: two statements.
    let mut conflict = journey(&vin(1), "st-1");
    let mut c = journey(VIN_A, "st-0")[2].clone();
    c["location"] = json!("USOAK");
    conflict.push(c);
    // 5 new events, then a stored event again: stored, and a duplicate.
    let mut dup = journey(&vin(2), "st-2");
    dup.push(journey(VIN_A, "st-0")[2].clone());
    let batches = [
        takt_store::EncodedBatch::new(events(&conflict)),
        takt_store::EncodedBatch::new(events(&dup)),
        takt_store::EncodedBatch::new(events(&journey(&vin(3), "st-3"))),
    ];
    let group: Vec<_> = batches.iter().map(|b| (b, now())).collect();
    let mut answers = store.append_group(&t, &group).into_iter();
    let r = rejected(answers.next().unwrap());
    assert_eq!(r.0.len(), 1);
    assert_eq!((r.0[0].index, r.0[0].code), (5, Code::Conflict));
    let dup_answer = answers.next().unwrap().unwrap();
    assert_eq!(
        (
            dup_answer.count(Answer::Stored),
            dup_answer.count(Answer::Duplicate)
        ),
        (5, 1)
    );
    assert_eq!(answers.next().unwrap().unwrap().count(Answer::Stored), 5);
    assert_eq!(store.count(&t).unwrap(), 15, "the rejected batch left rows");
    assert!(
        store
            .vehicle(&t, &Vin::parse(&vin(1)).unwrap())
            .unwrap()
            .is_none()
    );
    assert!(store.verify(&t).unwrap().mismatched.is_empty());
}

/// A group whose second batch sends back 160 events already stored (a
/// client resending after a lost answer) behind a first batch of new
/// events: answered within a minute as alone (new, then duplicates), and
/// stored as one group. On PostgreSQL the second batch's read goes out
/// before the first batch's write, and its answer is many messages long.
fn a_group_whose_later_batch_reads_many_stored_rows_is_answered(store: &Store) {
    let t = tenant("toyota");
    let all = fleet(30);
    let (first, stored) = all.split_at(all.len() - 160);
    store.append(&t, &events(stored), now()).unwrap();
    let batches = [
        takt_store::EncodedBatch::new(events(first)),
        takt_store::EncodedBatch::new(events(stored)),
    ];
    let (done, answered) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let group: Vec<_> = batches.iter().map(|b| (b, now())).collect();
            let answers = store.append_group(&t, &group);
            done.send(
                answers
                    .into_iter()
                    .map(|a| {
                        let a = a.unwrap();
                        (a.count(Answer::Stored), a.count(Answer::Duplicate))
                    })
                    .collect::<Vec<_>>(),
            )
            .unwrap();
        });
        let Ok(answers) = answered.recv_timeout(std::time::Duration::from_secs(60)) else {
            // The storing thread cannot be joined: end the test binary
            // rather than hang it.
            eprintln!("the group was not answered within a minute (a deadlock)");
            std::process::exit(1);
        };
        assert_eq!(answers, [(first.len(), 0), (0, 160)]);
    });
    assert_eq!(store.count(&t).unwrap(), all.len() as u64);
    assert_eq!(store.groups_stored_again(), 0);
    assert!(store.verify(&t).unwrap().mismatched.is_empty());
}

/// `append_group` (several batches, one transaction): every batch is
/// answered and stored as it would be appended alone, in order; a
/// rejected batch (a conflict with an earlier batch of the group, an event
/// in the far future) stores nothing and takes no other batch with it;
/// later batches see earlier ones (duplicates, retractions, states).
fn a_group_answers_and_stores_each_batch_as_alone(alone: &Store, grouped: &Store) {
    let t = tenant("toyota");
    let a = journey(VIN_A, "ga");
    let mut conflicting = a[1].clone();
    conflicting["location"] = json!("USOAK");
    let future = milestone(
        "g-future",
        VIN_B,
        "released",
        "released",
        "2026-03-10T02:00:00Z",
        "GEO",
    );
    let retract = {
        let mut r = a[3].clone();
        r["error_declaration"] = json!({"declaration_time": "2026-03-06T00:00:00Z",
            "reason": "did_not_occur"});
        r
    };
    let batches: Vec<Vec<serde_json::Value>> = vec![
        a[..2].to_vec(),
        vec![a[2].clone(), conflicting],
        journey(VIN_B, "gb"),
        vec![journey(VIN_B, "gb")[0].clone(), future],
        a[..4].to_vec(),
        vec![retract, a[4].clone()],
        a.clone(),
    ];
    let encoded: Vec<takt_store::EncodedBatch> = batches
        .iter()
        .map(|b| takt_store::EncodedBatch::new(events(b)))
        .collect();
    let one_by_one: Vec<_> = encoded
        .iter()
        .map(|b| alone.append_encoded(&t, b, now()))
        .collect();
    let group: Vec<_> = encoded.iter().map(|b| (b, now())).collect();
    let together = grouped.append_group(&t, &group);
    let answers = |rs: &[Result<takt_store::AppendReport, StoreError>]| -> Vec<String> {
        rs.iter()
            .map(|r| match r {
                Ok(report) => format!("{report:?}"),
                Err(StoreError::Rejected(r)) => format!(
                    "rejected {:?}",
                    r.0.iter().map(|b| (b.index, b.code)).collect::<Vec<_>>()
                ),
                Err(e) => panic!("{e}"),
            })
            .collect()
    };
    assert_eq!(answers(&one_by_one), answers(&together));
    assert!(answers(&together)[1].starts_with("rejected [(1, Conflict)]"));
    assert!(answers(&together)[3].starts_with("rejected [(1, FutureEvent)]"));
    assert!(together[5].as_ref().unwrap().count(Answer::Retracted) == 1);
    assert_eq!(alone.count(&t).unwrap(), grouped.count(&t).unwrap());
    assert_eq!(alone.subjects(&t).unwrap(), grouped.subjects(&t).unwrap());
    for s in alone.subjects(&t).unwrap() {
        assert_eq!(alone.rows(&t, &s).unwrap(), grouped.rows(&t, &s).unwrap());
    }
    for vin in [VIN_A, VIN_B] {
        let vin = Vin::parse(vin).unwrap();
        assert_eq!(
            alone.vehicle(&t, &vin).unwrap(),
            grouped.vehicle(&t, &vin).unwrap()
        );
    }
    assert!(grouped.verify(&t).unwrap().mismatched.is_empty());
    // Stored as groups: no group failed and was stored again batch by batch.
    assert_eq!(grouped.groups_stored_again(), 0);
    // A group of duplicates only writes nothing and answers duplicates.
    let again = grouped.append_group(&t, &group[..1]);
    assert_eq!(again[0].as_ref().unwrap().count(Answer::Duplicate), 2);
    let again = grouped.append_group(&t, &[group[0], group[2]]);
    assert!(
        again
            .iter()
            .all(|r| r.as_ref().unwrap().count(Answer::Stored) == 0)
    );
    assert_eq!(alone.count(&t).unwrap(), grouped.count(&t).unwrap());
}

/// Submits a batch of `VIN_A` (event ids from `prefix`) whose audit holds
/// the store's writer, inside that batch's group, until the returned
/// sender sends; returns once the writer is held.
fn hold_the_writer(
    store: &Store,
    t: &TenantId,
    prefix: &str,
) -> (takt_store::Pending, std::sync::mpsc::Sender<()>) {
    let (inside_tx, inside) = std::sync::mpsc::channel::<()>();
    let (go_tx, go) = std::sync::mpsc::channel::<()>();
    let go = std::sync::Mutex::new(go);
    let first = store.submit(
        t.clone(),
        EncodedBatch::new(events(&journey(VIN_A, prefix))),
        now(),
        Box::new(move |r: &takt_store::AppendReport| {
            inside_tx.send(()).unwrap();
            go.lock().unwrap().recv().unwrap();
            audit_entry(r)
        }),
        None,
    );
    inside.recv().unwrap();
    (first, go_tx)
}

/// A panic in the store's writer while it stores a group (here in an
/// audit closure, as a bug might) answers that group's batches with an
/// error that says to resend, stores none of them (the transaction rolled
/// back), and the writer takes the next batch as usual. Of the two
/// batches queued while the first is being stored, the first joins its
/// transaction and fails with it (its audit panics); the second, not yet
/// taken when it did, is stored in the next transaction.
#[test]
fn a_panic_while_storing_a_group_answers_its_batches_with_an_error() {
    let dir = temp_dir("panic");
    let store = Store::open(dir.join("p.db").to_str().unwrap()).unwrap();
    let t = tenant("toyota");
    // Holds the writer (in its own audit) until the other two wait.
    let (first, go_tx) = hold_the_writer(&store, &t, "p-0");
    let waiting: Vec<_> = [("p-1", true), ("p-2", false)]
        .into_iter()
        .map(|(prefix, panics)| {
            store.submit(
                t.clone(),
                EncodedBatch::new(events(&journey(VIN_B, prefix))),
                now(),
                Box::new(move |r: &takt_store::AppendReport| {
                    assert!(!panics, "an audit that fails");
                    audit_entry(r)
                }),
                None,
            )
        })
        .collect();
    // Both wait behind the first, so the writer takes them into its
    // transaction, one after the other.
    assert_eq!(store.waiting(), 2);
    go_tx.send(()).unwrap();
    let mut waiting = waiting.into_iter();
    let failed = [first, waiting.next().unwrap()];
    for pending in failed {
        let (answer, back) = pending.wait();
        let message = answer.expect_err("not stored").to_string();
        assert!(message.contains("resend"), "{message}");
        assert!(back.is_none());
    }
    let (answer, back) = waiting.next().unwrap().wait();
    assert_eq!(answer.unwrap().count(Answer::Stored), 5);
    assert!(back.is_some(), "the batch is handed back");
    assert_eq!(store.waiting(), 0);
    assert_eq!(store.written(), (2, 3));
    // Neither batch of the failed group is stored; the writer goes on.
    assert_eq!(store.count(&t).unwrap(), 5);
    let (after, _) = store
        .submit(
            t.clone(),
            EncodedBatch::new(events(&journey(VIN_B, "p-3"))),
            now(),
            Box::new(|r: &takt_store::AppendReport| audit_entry(r)),
            None,
        )
        .wait();
    assert_eq!(after.unwrap().count(Answer::Stored), 5);
    assert!(store.verify(&t).unwrap().mismatched.is_empty());
    drop(store);
    let _ = std::fs::remove_dir_all(dir);
}

/// The writer's group size follows the time of its recent commits and
/// batches (as many batches as it stores while one commit waits for the
/// disk) and the batches in flight (at most half of them), at least two
/// and at most 64; before any commit is timed, two.
#[test]
fn the_writers_group_holds_the_batches_it_stores_in_one_commit() {
    use std::time::Duration;
    use takt_store::store::{MAX_WRITER_GROUP, MIN_WRITER_GROUP, writer_group};
    let ms = |x: f64| Duration::from_secs_f64(x / 1000.0);
    let z = Duration::ZERO;
    assert_eq!(writer_group(z, z, 100), MIN_WRITER_GROUP);
    assert_eq!(writer_group(ms(0.2), ms(0.6), 100), MIN_WRITER_GROUP);
    assert_eq!(writer_group(ms(1.7), ms(0.6), 16), 3);
    assert_eq!(writer_group(ms(5.0), ms(0.65), 100), 8);
    assert_eq!(writer_group(ms(200.0), ms(0.5), 1000), MAX_WRITER_GROUP);
    assert_eq!(writer_group(ms(1.0), z, 1000), MAX_WRITER_GROUP);
    // At most half of what is in flight, never below two.
    assert_eq!(writer_group(ms(5.0), ms(0.65), 4), 2);
    assert_eq!(writer_group(ms(200.0), ms(0.5), 21), 11);
    assert_eq!(writer_group(ms(200.0), ms(0.5), 1), MIN_WRITER_GROUP);
}

/// The writer's first group, before any commit is timed, holds two
/// batches, however many wait: here four wait behind the first (held in
/// its audit), and the first transaction stores the first and one more.
#[test]
fn the_writers_first_group_is_the_smallest() {
    let dir = temp_dir("first-group");
    let store = Store::open(dir.join("f.db").to_str().unwrap()).unwrap();
    let t = tenant("toyota");
    let (first, go_tx) = hold_the_writer(&store, &t, "f-0");
    let waiting: Vec<_> = (1..=4)
        .map(|i| {
            store.submit(
                t.clone(),
                EncodedBatch::new(events(&journey(VIN_B, &format!("f-{i}")))),
                now(),
                Box::new(|r: &takt_store::AppendReport| audit_entry(r)),
                None,
            )
        })
        .collect();
    assert_eq!(store.waiting(), 4);
    go_tx.send(()).unwrap();
    assert_eq!(first.wait().0.unwrap().count(Answer::Stored), 5);
    assert_eq!(store.written(), (1, 2), "the first group: two batches");
    for pending in waiting {
        pending.wait().0.unwrap();
    }
    assert_eq!(store.written().1, 5);
    assert_eq!(store.count(&t).unwrap(), 25);
    drop(store);
    let _ = std::fs::remove_dir_all(dir);
}

/// The writer waits for announced batches before it commits: a batch
/// submitted while another of the same tenant is announced is stored with
/// it in one transaction; a batch of another tenant goes in a transaction
/// of its own; a withdrawn announcement ends the wait (here well before
/// the 30 s allowed).
#[test]
fn the_writer_waits_for_announced_batches_before_it_commits() {
    let dir = temp_dir("gather");
    let store = Store::open(dir.join("g.db").to_str().unwrap())
        .unwrap()
        .with_gather(std::time::Duration::from_secs(30));
    let t = tenant("toyota");
    let audit =
        || -> takt_store::AuditOf { Box::new(|r: &takt_store::AppendReport| audit_entry(r)) };
    let batch = |vin: &str, prefix: &str| EncodedBatch::new(events(&journey(vin, prefix)));
    // Same tenant: one transaction for both.
    let announced = store.announce();
    let first = store.submit(t.clone(), batch(VIN_A, "g-0"), now(), audit(), None);
    let second = store.submit(
        t.clone(),
        batch(VIN_B, "g-1"),
        now(),
        audit(),
        Some(announced),
    );
    for pending in [first, second] {
        assert_eq!(pending.wait().0.unwrap().count(Answer::Stored), 5);
    }
    assert_eq!(store.written(), (1, 2));
    // Another tenant's batch, submitted while the group waits: a
    // transaction of its own, after the group's.
    let other = tenant("mazda");
    let announced = store.announce();
    let first = store.submit(t.clone(), batch(VIN_A, "g-2"), now(), audit(), None);
    let theirs = store.submit(
        other.clone(),
        batch(VIN_A, "g-3"),
        now(),
        audit(),
        Some(announced),
    );
    assert_eq!(first.wait().0.unwrap().count(Answer::Stored), 5);
    assert_eq!(theirs.wait().0.unwrap().count(Answer::Stored), 5);
    assert_eq!(store.written(), (3, 4));
    // A withdrawn announcement: the writer commits without waiting out
    // the 30 s.
    let since = std::time::Instant::now();
    let announced = store.announce();
    let alone = store.submit(t.clone(), batch(VIN_B, "g-4"), now(), audit(), None);
    drop(announced);
    assert_eq!(alone.wait().0.unwrap().count(Answer::Stored), 5);
    assert!(since.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(store.written(), (4, 5));
    assert_eq!(store.count(&t).unwrap(), 20);
    assert_eq!(store.count(&other).unwrap(), 5);
    assert!(store.verify(&t).unwrap().mismatched.is_empty());
    drop(store);
    let _ = std::fs::remove_dir_all(dir);
}

/// `submit` from many threads at once (as `takt serve`'s requests
/// call it; batches waiting meanwhile are stored in one transaction):
/// every caller gets its own batch's answer, a rejected batch stores
/// nothing and no other batch is lost with it, and every accepted batch
/// wrote its audit row.
fn callers_on_many_threads_are_each_answered_for_their_own_batch(store: &Store) {
    let t = tenant("toyota");
    store
        .append(&t, &events(&journey(VIN_A, "sh-0")), now())
        .unwrap();
    let vins: Vec<String> = (1..=24)
        .map(|i| {
            takt_core::Vin::assemble("4T1", "DAACK", 2026, 'U', &format!("{i:06}"))
                .unwrap()
                .to_string()
        })
        .collect();
    let audited = std::sync::Arc::new(AtomicUsize::new(0));
    let answers: Vec<(usize, Result<takt_store::AppendReport, StoreError>)> =
        std::thread::scope(|scope| {
            let threads: Vec<_> = vins
                .iter()
                .enumerate()
                .map(|(i, vin)| {
                    let audited = audited.clone();
                    scope.spawn(move || {
                        let mut lines = journey(vin, &format!("sh-{}", i + 1));
                        match i % 6 {
                            // A conflict with the stored batch.
                            1 => {
                                let mut c = journey(VIN_A, "sh-0")[2].clone();
                                c["location"] = json!("USOAK");
                                lines.push(c);
                            }
                            // Far in the future.
                            4 => lines[0]["at"] = json!("2026-03-11T00:00:00Z"),
                            _ => {}
                        }
                        let audit = move |r: &takt_store::AppendReport| {
                            audited.fetch_add(1, Ordering::SeqCst);
                            audit_entry(r)
                        };
                        let batch = events(&lines);
                        let (answer, back) = store
                            .submit(
                                tenant("toyota"),
                                EncodedBatch::new(batch.clone()),
                                now(),
                                Box::new(audit),
                                None,
                            )
                            .wait();
                        assert_eq!(
                            back.expect("handed back").events(),
                            batch.as_slice(),
                            "the batch is handed back"
                        );
                        (i, answer)
                    })
                })
                .collect();
            threads.into_iter().map(|h| h.join().unwrap()).collect()
        });
    for (i, answer) in answers {
        match i % 6 {
            1 => assert_eq!(rejected(answer).0[0].code, Code::Conflict),
            4 => assert_eq!(rejected(answer).0[0].code, Code::FutureEvent),
            _ => assert_eq!(
                answer.as_ref().unwrap().count(Answer::Stored),
                5,
                "{answer:?}"
            ),
        }
    }
    assert_eq!(
        audited.load(Ordering::SeqCst),
        16,
        "one audit row per accepted batch"
    );
    assert_eq!(store.count(&t).unwrap(), 5 + 16 * 5);
    for (i, vin) in vins.iter().enumerate() {
        let v = store.vehicle(&t, &Vin::parse(vin).unwrap()).unwrap();
        assert_eq!(v.is_some(), i % 6 != 1 && i % 6 != 4, "{vin}");
    }
    assert!(store.verify(&t).unwrap().mismatched.is_empty());
}

fn duplicates_are_stored_once_and_answered(store: &Store) {
    let t = tenant("toyota");
    let batch = events(&journey(VIN_A, "d"));
    let first = store.append(&t, &batch, now()).unwrap();
    assert_eq!(first.count(Answer::Stored), 5);
    let again = store.append(&t, &batch, now()).unwrap();
    assert_eq!(again.count(Answer::Duplicate), 5, "{again:?}");
    // A duplicate inside one batch too.
    let twice = [batch[0].clone(), batch[0].clone()];
    assert_eq!(
        store
            .append(&t, &twice, now())
            .unwrap()
            .count(Answer::Duplicate),
        2
    );
    assert_eq!(store.count(&t).unwrap(), 5);
    assert_eq!(
        store
            .history(&t, &Vin::parse(VIN_A).unwrap())
            .unwrap()
            .len(),
        5
    );
}

fn same_id_different_content_is_a_conflict_naming_the_fields(store: &Store) {
    let t = tenant("toyota");
    store
        .append(&t, &events(&journey(VIN_A, "c")), now())
        .unwrap();
    let mut changed = journey(VIN_A, "c")[2].clone();
    changed["location"] = json!("USOAK");
    changed["resource"] = json!("USOAK/x");
    let r = rejected(store.append(&t, &events(&[changed]), now()));
    assert_eq!(r.0.len(), 1);
    assert_eq!(r.0[0].code, Code::Conflict);
    assert!(
        r.0[0].reason.contains("/location") && r.0[0].reason.contains("/resource"),
        "{}",
        r.0[0].reason
    );
    assert_eq!(store.count(&t).unwrap(), 5);
}

fn batch_is_all_or_nothing_with_each_bad_index(store: &Store) {
    let t = tenant("toyota");
    store
        .append(&t, &events(&journey(VIN_A, "b")[..1]), now())
        .unwrap();
    let mut conflicting = journey(VIN_A, "b")[0].clone();
    conflicting["model"] = json!("tundra");
    let future = milestone(
        "b-future",
        VIN_B,
        "released",
        "released",
        "2026-03-10T02:00:00Z",
        "GEO",
    );
    let good = milestone(
        "b-good",
        VIN_B,
        "inland_departed",
        "inland",
        "2026-03-09T00:00:00Z",
        "GEO",
    );
    let r = rejected(store.append(&t, &events(&[good.clone(), future]), now()));
    assert_eq!(
        r.0.iter().map(|b| (b.index, b.code)).collect::<Vec<_>>(),
        vec![(1, Code::FutureEvent)]
    );
    let r = rejected(store.append(
        &t,
        &events(&[good.clone(), conflicting.clone(), good, conflicting]),
        now(),
    ));
    assert_eq!(
        r.0.iter().map(|b| (b.index, b.code)).collect::<Vec<_>>(),
        vec![(1, Code::Conflict), (3, Code::Conflict)]
    );
    assert_eq!(
        store.count(&t).unwrap(),
        1,
        "nothing of a rejected batch is stored"
    );
    assert!(
        store
            .vehicle(&t, &Vin::parse(VIN_B).unwrap())
            .unwrap()
            .is_none()
    );
}

fn any_arrival_order_gives_the_same_state_and_history(store: &Store) {
    let vin = Vin::parse(VIN_A).unwrap();
    let batch = events(&journey(VIN_A, "o"));
    let (t1, t2) = (tenant("in-order"), tenant("reversed"));
    store.append(&t1, &batch, now()).unwrap();
    for e in batch.iter().rev() {
        store.append(&t2, std::slice::from_ref(e), now()).unwrap();
    }
    let a = store.vehicle(&t1, &vin).unwrap().unwrap();
    let b = store.vehicle(&t2, &vin).unwrap().unwrap();
    assert_eq!(a.state, b.state);
    assert_eq!(a.history, b.history);
    assert_eq!(a.state.stage, Some(takt_core::Stage::Processing));
    assert_eq!(a.state.location.as_deref(), Some("USLGB"));
    assert_eq!(a.state.holds.len(), 1);
    // Arriving in reverse, all but the latest were flagged out of order.
    assert_eq!(
        b.flags
            .values()
            .filter(|f| f.contains(&Flag::OutOfOrder))
            .count(),
        4
    );
    assert!(a.flags.values().all(|f| !f.contains(&Flag::OutOfOrder)));
    // Milestones come back in event order however they were stored.
    let ids = |t: &TenantId| -> Vec<String> {
        store
            .milestones(t)
            .unwrap()
            .into_iter()
            .map(|m| m.event_id)
            .collect()
    };
    assert_eq!(ids(&t2), ["o-1", "o-2", "o-3", "o-4", "o-5"]);
    assert_eq!(ids(&t1), ids(&t2));
}

/// Events of two vehicles and a resource, many at the same minute, some
/// retracted (declarations after and before their events), sent in many
/// orders and splits: every split and order gives the state and history of
/// the whole set sent as one batch, whether the store applied a batch to
/// the stored state or derived the state again, and `verify` finds the
/// stored state and tail equal to the log's.
fn any_split_into_batches_gives_the_state_of_one_batch(store: &Store) {
    let names = [
        ("released", "released"),
        ("inland_departed", "inland"),
        ("port_arrived", "port_arrival"),
        ("hold_placed", "port_arrival"),
        ("processing_started", "processing"),
        ("hold_released", "processing"),
        ("yard_staged", "yard"),
        ("routed", "released"),
        ("rolled", "yard"),
    ];
    let mut lines = Vec::new();
    for (v, vin) in [VIN_A, VIN_B].into_iter().enumerate() {
        for (i, (m, stage)) in names.iter().enumerate() {
            // Three events an hour: ties in time, broken by milestone and id.
            let mut l = milestone(
                &format!("s{v}-{i}"),
                vin,
                m,
                stage,
                &format!("2026-03-02T0{}:00:00Z", i / 3),
                ["GEO", "USLGB"][i % 2],
            );
            if m.starts_with("hold") {
                l["reason"] = json!("damage");
            }
            lines.push(l);
        }
    }
    for (i, at) in [
        "2026-03-02T01:00:00Z",
        "2026-03-02T01:00:00Z",
        "2026-03-02T00:00:00Z",
    ]
    .iter()
    .enumerate()
    {
        lines.push(
            json!({"event_id": format!("eta-{i}"), "tenant": "toyota", "at": at,
            "resource_event": {"type": "vessel_eta", "voyage": "V7", "port": "JPNGO",
                               "eta": format!("2026-03-2{i}T06:00:00Z")}}),
        );
    }
    for id in ["s0-4", "s1-1", "eta-1"] {
        let mut d = lines.iter().find(|l| l["event_id"] == id).unwrap().clone();
        d["error_declaration"] = json!({"declaration_time": "2026-03-06T00:00:00Z",
            "reason": "did_not_occur"});
        lines.push(d);
    }
    let all = events(&lines);
    let vins = [Vin::parse(VIN_A).unwrap(), Vin::parse(VIN_B).unwrap()];
    let look = |t: &TenantId| {
        (
            vins.map(|v| {
                let view = store.vehicle(t, &v).unwrap().unwrap();
                (view.state, view.history)
            }),
            store.resource(t, "voyage:V7@JPNGO").unwrap(),
        )
    };
    let one = tenant("one-batch");
    store.append(&one, &all, now()).unwrap();
    let want = look(&one);
    assert_eq!(want.0[0].0.n_retracted, 1);
    assert_eq!(
        want.1.as_ref().unwrap().latest_event_id.as_deref(),
        Some("eta-0")
    );
    let mut seed = 7u64;
    let mut next = |n: usize| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize % n
    };
    for k in 0..12 {
        let mut order = all.clone();
        // In order (every batch applied to the stored state), reversed
        // (every batch derived again), then shuffled.
        match k {
            0 => order.sort_by_key(|e| (e.at, e.error_declaration.is_some())),
            1 => order.sort_by_key(|e| std::cmp::Reverse(e.at)),
            _ => {
                for i in (1..order.len()).rev() {
                    order.swap(i, next(i + 1));
                }
            }
        }
        let t = tenant(&format!("split-{k}"));
        let mut rest = &order[..];
        while !rest.is_empty() {
            let n = (1 + next(6)).min(rest.len());
            store.append(&t, &rest[..n], now()).unwrap();
            rest = &rest[n..];
        }
        assert_eq!(look(&t), want, "order {k}");
        let v = store.verify(&t).unwrap();
        assert!(v.mismatched.is_empty(), "order {k}: {:?}", v.mismatched);
    }
}

fn error_declaration_retracts_and_state_reverts(store: &Store) {
    let vin = Vin::parse(VIN_A).unwrap();
    let j = journey(VIN_A, "r");
    let mut decl = j[4].clone();
    decl["error_declaration"] = json!({"declaration_time": "2026-03-06T00:00:00Z",
        "reason": "did_not_occur", "corrective_event_ids": ["r-6"]});
    let corrective = milestone(
        "r-6",
        VIN_A,
        "processing_started",
        "processing",
        "2026-03-05T11:00:00Z",
        "USLGB",
    );
    // Declaration after the event.
    let t = tenant("toyota");
    store.append(&t, &events(&j), now()).unwrap();
    let report = store
        .append(&t, &events(std::slice::from_ref(&decl)), now())
        .unwrap();
    assert_eq!(report.items[0].answer, Answer::Retracted);
    let v = store.vehicle(&t, &vin).unwrap().unwrap();
    assert_eq!(
        v.state.stage,
        Some(takt_core::Stage::PortArrival),
        "state reverts"
    );
    assert_eq!(v.state.n_retracted, 1);
    let h = v.history.iter().find(|h| h.event_id == "r-5").unwrap();
    assert!(h.retracted);
    assert_eq!(h.corrected_by, vec!["r-6".to_string()]);
    // The same declaration again is a duplicate; a different one a conflict.
    assert_eq!(
        store
            .append(&t, &events(std::slice::from_ref(&decl)), now())
            .unwrap()
            .items[0]
            .answer,
        Answer::Duplicate
    );
    let mut other = decl.clone();
    other["error_declaration"]["reason"] = json!("incorrect_data");
    let r = rejected(store.append(&t, &events(&[other]), now()));
    assert!(
        r.0[0].reason.contains("/errorDeclaration"),
        "{}",
        r.0[0].reason
    );
    store
        .append(&t, &events(std::slice::from_ref(&corrective)), now())
        .unwrap();
    let after = store.vehicle(&t, &vin).unwrap().unwrap();
    assert_eq!(after.state.stage, Some(takt_core::Stage::Processing));
    // Declaration first, then the event, then the correction: same state.
    let t2 = tenant("declaration-first");
    store
        .append(&t2, &events(std::slice::from_ref(&decl)), now())
        .unwrap();
    store.append(&t2, &events(&j), now()).unwrap();
    store.append(&t2, &events(&[corrective]), now()).unwrap();
    assert_eq!(
        store.vehicle(&t2, &vin).unwrap().unwrap().state,
        after.state
    );
    assert!(store.verify(&t).unwrap().mismatched.is_empty());
}

fn late_skewed_out_of_order_flagged_far_future_rejected(store: &Store) {
    let t = tenant("toyota");
    let late = milestone(
        "t-1",
        VIN_A,
        "released",
        "released",
        "2026-03-01T00:00:00Z",
        "GEO",
    );
    let skewed = milestone(
        "t-2",
        VIN_A,
        "inland_departed",
        "inland",
        "2026-03-10T00:10:00Z",
        "GEO",
    );
    let older = milestone(
        "t-3",
        VIN_A,
        "routed",
        "released",
        "2026-03-02T00:00:00Z",
        "GEO",
    );
    let r = store
        .append(&t, &events(&[late, skewed, older]), now())
        .unwrap();
    assert_eq!(r.items[0].flags, vec![Flag::Late]);
    assert_eq!(r.items[1].flags, vec![Flag::ClockSkew]);
    assert_eq!(r.items[2].flags, vec![Flag::Late, Flag::OutOfOrder]);
    let far = milestone(
        "t-4",
        VIN_A,
        "port_arrived",
        "port_arrival",
        "2026-03-10T01:01:00Z",
        "USLGB",
    );
    let r = rejected(store.append(&t, &events(&[far]), now()));
    assert_eq!(r.0[0].code, Code::FutureEvent);
    assert!(r.0[0].reason.contains("61 minutes"), "{}", r.0[0].reason);
    assert_eq!(DEFAULT_POLICY.max_future.as_mins(), 60);
}

fn tenants_never_see_each_other(store: &Store) {
    let vin = Vin::parse(VIN_A).unwrap();
    let (a, b) = (tenant("toyota"), tenant("nissan"));
    store
        .append(&a, &events(&journey(VIN_A, "x")), now())
        .unwrap();
    assert!(store.vehicle(&b, &vin).unwrap().is_none());
    assert_eq!(store.count(&b).unwrap(), 0);
    // The same event ids under another tenant are other events.
    let r = store
        .append(&b, &events(&journey(VIN_A, "x")[..2]), now())
        .unwrap();
    assert_eq!(r.count(Answer::Stored), 2);
    assert_eq!(store.vehicle(&b, &vin).unwrap().unwrap().state.n_events, 2);
    assert_eq!(store.vehicle(&a, &vin).unwrap().unwrap().state.n_events, 5);
}

fn resource_events_derive_latest_by_event_time(store: &Store) {
    let t = tenant("toyota");
    let eta = |id: &str, at: &str, eta: &str| {
        json!({"event_id": id, "tenant": "toyota", "at": at,
               "resource_event": {"type": "vessel_eta", "voyage": "V7", "port": "JPNGO", "eta": eta}})
    };
    let lines = [
        eta("e-2", "2026-03-05T00:00:00Z", "2026-03-20T06:00:00Z"),
        eta("e-1", "2026-03-04T00:00:00Z", "2026-03-19T06:00:00Z"),
        json!({"event_id": "s-1", "tenant": "toyota", "at": "2026-03-04T00:00:00Z",
               "resource_event": {"type": "station_outage", "location": "USLGB", "resource": "USLGB/processing",
                                  "from": "2026-03-04T00:00:00Z", "until": "2026-03-04T08:00:00Z"}}),
        json!({"event_id": "g-1", "tenant": "toyota", "at": "2026-03-04T00:00:00Z",
               "resource_event": {"type": "gang_shortage", "location": "USLGB", "n_gangs_short": 2,
                                  "from": "2026-03-04T00:00:00Z", "until": "2026-03-04T08:00:00Z"}}),
        json!({"event_id": "rd-1", "tenant": "toyota", "at": "2026-03-04T00:00:00Z",
               "resource_event": {"type": "rail_delay", "service": "GEO-USLGB", "delay_minutes": 720}}),
    ];
    store.append(&t, &events(&lines), now()).unwrap();
    let s = store.resource(&t, "voyage:V7@JPNGO").unwrap().unwrap();
    assert_eq!(s.latest_event_id.as_deref(), Some("e-2"));
    assert_eq!(s.n_events, 2);
    match s.latest {
        Some(ResourceEvent::VesselEta { eta, .. }) => {
            assert_eq!(eta.rfc3339(), "2026-03-20T06:00:00Z")
        }
        other => panic!("{other:?}"),
    }
    for key in ["station:USLGB/processing", "gangs:USLGB", "rail:GEO-USLGB"] {
        assert_eq!(
            store.resource(&t, key).unwrap().unwrap().n_events,
            1,
            "{key}"
        );
    }
}

/// Milestone lines for `n` vehicles through the whole journey, as the
/// simulator writes them (VIN, zero-padded sequence number as event id).
fn fleet(n: u32) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let mut seq = 0;
    for k in 0..n {
        let vin = Vin::assemble("4T1", "DAACK", 2026, 'U', &format!("{:06}", 100_000 + k))
            .unwrap()
            .to_string();
        for (j, (m, stage)) in takt_core::event::MILESTONES.iter().enumerate() {
            seq += 1;
            let at = takt_core::Minute::parse_rfc3339("2026-03-02T00:00:00Z")
                .unwrap()
                .plus(i64::from(k) * 7 + j as i64 * 600);
            out.push(milestone(
                &format!("{vin}-{seq:08}"),
                &vin,
                m,
                stage.name(),
                &at.rfc3339(),
                if j < 2 { "GEO" } else { "USLGB" },
            ));
        }
    }
    out
}

fn simulated_run_replays_and_verifies(store: &Store) {
    let lines = fleet(60);
    let evs = events(&lines);
    let t = tenant("toyota");
    // Replayed as received live: each batch at its latest event time.
    for chunk in evs.chunks(97) {
        let received = chunk.iter().map(|e| e.at).max().unwrap();
        store.append(&t, chunk, received).unwrap();
    }
    let v = store.verify(&t).unwrap();
    assert_eq!(v.n_rows as usize, lines.len());
    assert_eq!(v.n_subjects, 60);
    assert!(v.mismatched.is_empty(), "{:?}", v.mismatched);
    let vin = Vin::parse(lines[0]["vin"].as_str().unwrap()).unwrap();
    let state = store.vehicle(&t, &vin).unwrap().unwrap().state;
    assert_eq!(state.stage, Some(takt_core::Stage::Delivery));
    assert_eq!(state.milestone.as_deref(), Some("delivered"));
}

/// A short simulated run (every kind of milestone the simulator writes,
/// `routed` with its planned instants, holds, checklist items) as
/// `takt simulate` writes it.
fn simulated_lines() -> Vec<takt_core::event::Milestone> {
    let (_, net) = takt_core::network::Network::load(
        takt_core::scenario::BUILTIN_US_JAPAN,
        takt_core::network::CompileOptions {
            days: 28,
            volume_scale: 0.5,
        },
    )
    .unwrap();
    let end = net.end;
    let mut sim = takt_sim::Simulation::new(
        net,
        takt_sim::policy::by_name("fifo").unwrap(),
        takt_sim::SimOptions {
            seed: 11,
            volume_scale: 0.5,
        },
    );
    sim.run_until(end);
    sim.drain_milestones()
}

fn simulated_milestones_read_back_equal(store: &Store) {
    let lines = simulated_lines();
    assert!(
        lines.iter().any(|m| m.planned.is_some()),
        "no routed milestone"
    );
    assert!(
        lines.iter().any(
            |m| takt_core::event::EXTRA_MILESTONES.contains(&m.milestone.as_str())
                && m.milestone != "routed"
        ),
        "no extra milestone besides routed"
    );
    let text: String = lines
        .iter()
        .map(|m| serde_json::to_string(m).unwrap() + "\n")
        .collect();
    let mut evs: Vec<Event> = takt_format::parse_json(&text)
        .unwrap()
        .into_iter()
        .map(|i| i.event)
        .collect();
    evs.sort_by(|a, b| (a.at, &a.event_id).cmp(&(b.at, &b.event_id)));
    let t = tenant("toyota");
    for chunk in evs.chunks(500) {
        let received = chunk.iter().map(|e| e.at).max().unwrap();
        store.append(&t, chunk, received).unwrap();
    }
    let back = store.milestones(&t).unwrap();
    // Event-time order.
    assert!(back.windows(2).all(|w| w[0].at <= w[1].at));
    // The same multiset.
    let key = |m: &takt_core::event::Milestone| serde_json::to_string(m).unwrap();
    let mut want: Vec<String> = lines.iter().map(key).collect();
    let mut got: Vec<String> = back.iter().map(key).collect();
    want.sort();
    got.sort();
    assert_eq!(got.len(), want.len());
    assert!(got == want, "milestones differ after a round trip");
    // Another tenant reads nothing; a retracted event is left out.
    assert!(store.milestones(&tenant("nissan")).unwrap().is_empty());
    let mut retract = evs[0].clone();
    retract.error_declaration = Some(ErrorDeclaration {
        declaration_time: evs[0].at,
        reason: Some("did_not_occur".into()),
        corrective_event_ids: vec![],
    });
    store.append(&t, &[retract], evs[0].at).unwrap();
    let after = store.milestones(&t).unwrap();
    assert_eq!(after.len(), back.len() - 1);
    assert!(after.iter().all(|m| m.event_id != evs[0].event_id));
}

fn migrations_are_versioned_and_data_survives_reopen(open: &dyn Fn(&str) -> Store) {
    let t = tenant("toyota");
    {
        let s = open("reopen");
        assert_eq!(s.schema_version().unwrap(), LATEST_SCHEMA);
        s.append(&t, &events(&journey(VIN_A, "m")), now()).unwrap();
    }
    let s = open("reopen");
    assert_eq!(s.schema_version().unwrap(), LATEST_SCHEMA);
    assert_eq!(s.count(&t).unwrap(), 5);
    assert!(s.verify(&t).unwrap().mismatched.is_empty());
}

#[test]
fn sqlite_backend_suite() {
    let dir = temp_dir("sqlite");
    let path = |name: &str| dir.join(format!("{name}.db")).to_str().unwrap().to_string();
    suite(&|name| Store::open(&path(name)).unwrap(), &path);
    // sqlite:// URLs, and the log refuses UPDATE and DELETE.
    let path = dir.join("reopen.db");
    Store::open(&format!("sqlite://{}", path.display())).unwrap();
    let conn = rusqlite_conn(&path);
    assert!(
        conn.execute("UPDATE event_log SET flags = '[]'", [])
            .is_err()
    );
    assert!(conn.execute("DELETE FROM event_log", []).is_err());
    let _ = std::fs::remove_dir_all(dir);
}

/// A database written before migration 2 (record version 1: the vehicle
/// facts without `reported_stage` and `planned`) reads back every field of
/// its takt milestones after the migration.
#[test]
fn version_1_records_read_back_every_field_after_migration_2() {
    let dir = temp_dir("v1");
    let path = dir.join("v1.db");
    let routed = json!({"event_id": "r-1", "vin": VIN_A, "tenant": "toyota", "model": "camry",
        "milestone": "routed", "stage": "released", "at": "2026-03-02T06:00:00Z",
        "location": "GEO", "resource": "V12", "planned": {"vessel_departed": "2026-03-12T10:00:00Z"}});
    let hold = milestone(
        "h-1",
        VIN_A,
        "hold_placed",
        "port_arrival",
        "2026-03-05T09:00:00Z",
        "USLGB",
    );
    {
        let conn = rusqlite_conn(&path);
        conn.execute_batch("PRAGMA journal_mode=WAL;").unwrap();
        conn.execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL);",
        )
        .unwrap();
        conn.execute_batch(takt_store::backend::MIGRATIONS[0].2)
            .unwrap();
        conn.execute(
            "INSERT INTO schema_migrations VALUES (1, 'event log, subjects, state', datetime('now'))",
            [],
        )
        .unwrap();
        for (i, line) in [&routed, &hold].into_iter().enumerate() {
            let e = events(std::slice::from_ref(line)).remove(0);
            let mut record = serde_json::to_value(&e).unwrap();
            let facts = record["body"].as_object_mut().unwrap();
            facts.remove("reported_stage");
            facts.remove("planned");
            conn.execute(
                "INSERT INTO event_log (tenant, event_id, kind, event_time_ms, received_at_ms, flags, record)
                 VALUES ('toyota', ?1, 'event', ?2, ?2, '[]', ?3)",
                rusqlite::params![e.event_id, e.at.as_millisecond() + i as i64, record.to_string()],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO event_subject VALUES ('toyota', ?1, ?2, 'event')",
                rusqlite::params![format!("vin:{VIN_A}"), e.event_id],
            )
            .unwrap();
        }
    }
    let store = Store::open(path.to_str().unwrap()).unwrap();
    assert_eq!(store.schema_version().unwrap(), LATEST_SCHEMA);
    let back = store.milestones(&tenant("toyota")).unwrap();
    let want: Vec<takt_core::event::Milestone> = [routed, hold]
        .into_iter()
        .map(|v| serde_json::from_value(v).unwrap())
        .collect();
    assert_eq!(back, want);
    // Rows stored without a state row (or tail): the next event derives
    // the state from all of them, and from then on it is kept.
    let t = tenant("toyota");
    let next = milestone(
        "p-1",
        VIN_A,
        "port_arrived",
        "port_arrival",
        "2026-03-05T08:00:00Z",
        "USLGB",
    );
    store.append(&t, &events(&[next]), now()).unwrap();
    let state = store
        .vehicle(&t, &Vin::parse(VIN_A).unwrap())
        .unwrap()
        .unwrap()
        .state;
    assert_eq!(state.n_events, 3);
    assert_eq!(state.holds.len(), 1);
    assert!(store.verify(&t).unwrap().mismatched.is_empty());
    let _ = std::fs::remove_dir_all(dir);
}

/// The events of the version 4 database below: two journeys, one event
/// retracted, an event naming both vehicles, a resource event.
fn v4_events() -> Vec<Event> {
    let mut evs = events(&journey(VIN_A, "a"));
    evs.extend(events(&journey(VIN_B, "b")));
    let mut both = events(&[milestone(
        "ab-1",
        VIN_A,
        "yard_staged",
        "yard",
        "2026-03-05T12:00:00Z",
        "USLGB",
    )]);
    if let takt_store::model::Body::Vehicle(v) = &mut both[0].body {
        v.vins.push(Vin::parse(VIN_B).unwrap());
    }
    evs.extend(both);
    let mut retract = evs[3].clone();
    retract.error_declaration = Some(ErrorDeclaration {
        declaration_time: evs[3].at,
        reason: Some("did_not_occur".into()),
        corrective_event_ids: vec![],
    });
    evs.push(retract);
    evs.extend(events(&[json!({"event_id": "e-1", "tenant": "toyota", "at": "2026-03-04T00:00:00Z",
        "resource_event": {"type": "vessel_eta", "voyage": "V7", "port": "JPNGO", "eta": "2026-03-19T06:00:00Z"}})]));
    evs
}

/// SQL that writes `evs` the way version 4 stored them: log rows, one
/// `event_subject` row per subject and event, each subject's state and
/// tail. Literals only, so the same text runs on both backends.
fn v4_rows_sql(evs: &[Event]) -> String {
    let q = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let mut sql = String::new();
    let mut rows_of: std::collections::BTreeMap<String, Vec<LogRow>> = Default::default();
    for e in evs {
        let kind = e.log_kind();
        sql += &format!(
            "INSERT INTO event_log (tenant, event_id, kind, event_time_ms, received_at_ms, flags, record, record_version)
             VALUES ('toyota', {}, '{kind}', {}, {}, '[]', {}, 2);\n",
            q(&e.event_id),
            e.at.as_millisecond(),
            now().as_millisecond(),
            q(&takt_store::backend::record(e)),
        );
        for s in takt_store::model::subjects(e) {
            sql += &format!(
                "INSERT INTO event_subject VALUES ('toyota', {}, {}, '{kind}');\n",
                q(&s),
                q(&e.event_id)
            );
            rows_of.entry(s).or_default().push(LogRow {
                event: e.clone(),
                received_at: now(),
                flags: vec![],
            });
        }
    }
    for (s, rows) in rows_of {
        let d = derive_subject(&s, &rows).unwrap();
        sql += &format!(
            "INSERT INTO subject_state (tenant, subject, state, tail) VALUES ('toyota', {}, {}, {});\n",
            q(&s),
            q(&d.state),
            q(&serde_json::to_string(&d.tail).unwrap())
        );
    }
    sql
}

/// What a store answers about the version 4 database's subjects.
fn v4_answers(store: &Store) -> Vec<String> {
    let t = tenant("toyota");
    let mut out: Vec<String> = [VIN_A, VIN_B]
        .iter()
        .map(|v| {
            let view = store.vehicle(&t, &Vin::parse(v).unwrap()).unwrap().unwrap();
            format!("{:?} {:?}", view.state, view.history)
        })
        .collect();
    out.push(format!(
        "{:?}",
        store.resource(&t, "voyage:V7@JPNGO").unwrap()
    ));
    out
}

/// A database written by version 4 (event ids in `event_subject`) answers
/// the same after migration 5 (event ids in `subject_state.events`) as a
/// new database given the same events, verifies, and takes more events.
fn version_4_database_answers_the_same_after_migration_5(old: &Store, fresh: &Store) {
    let t = tenant("toyota");
    assert_eq!(old.schema_version().unwrap(), LATEST_SCHEMA);
    fresh.append(&t, &v4_events(), now()).unwrap();
    assert_eq!(v4_answers(old), v4_answers(fresh));
    let v = old.verify(&t).unwrap();
    assert!(v.mismatched.is_empty(), "{:?}", v.mismatched);
    assert_eq!(v.n_subjects, 3);
    // Later events apply to the migrated state; a correction derives again.
    let next = events(&[milestone(
        "a-6",
        VIN_A,
        "loading_started",
        "loading",
        "2026-03-06T10:00:00Z",
        "USLGB",
    )]);
    let mut undo = v4_events()[10].clone();
    undo.error_declaration = Some(ErrorDeclaration {
        declaration_time: undo.at,
        reason: Some("incorrect_data".into()),
        corrective_event_ids: vec![],
    });
    for store in [old, fresh] {
        store.append(&t, &next, now()).unwrap();
        store
            .append(&t, std::slice::from_ref(&undo), now())
            .unwrap();
    }
    assert_eq!(v4_answers(old), v4_answers(fresh));
    assert!(old.verify(&t).unwrap().mismatched.is_empty());
}

#[test]
fn sqlite_version_4_database_answers_the_same_after_migration_5() {
    let dir = temp_dir("v4");
    let path = dir.join("v4.db");
    {
        let conn = rusqlite_conn(&path);
        conn.execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL);").unwrap();
        for (v, name, sql, _) in &takt_store::backend::MIGRATIONS[..4] {
            conn.execute_batch(sql).unwrap();
            conn.execute(
                "INSERT INTO schema_migrations VALUES (?1, ?2, datetime('now'))",
                rusqlite::params![v, name],
            )
            .unwrap();
        }
        conn.execute_batch(&format!("BEGIN; {} COMMIT;", v4_rows_sql(&v4_events())))
            .unwrap();
    }
    version_4_database_answers_the_same_after_migration_5(
        &Store::open(path.to_str().unwrap()).unwrap(),
        &Store::open(dir.join("fresh.db").to_str().unwrap()).unwrap(),
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// A stored state that does not parse is derived again from the log by
/// the next batch about its subject (it used to be left as it was: the
/// batch's events were in the log, the stored state stale).
#[test]
fn a_stored_state_that_does_not_parse_is_derived_again() {
    let dir = temp_dir("badstate");
    let path = dir.join("bad.db");
    let store = Store::open(path.to_str().unwrap()).unwrap();
    let t = tenant("toyota");
    let lines = journey(VIN_A, "a");
    store.append(&t, &events(&lines[..3]), now()).unwrap();
    rusqlite_conn(&path)
        .execute(
            "UPDATE subject_state SET state = '{\"not\": \"a state\"}'",
            [],
        )
        .unwrap();
    store.append(&t, &events(&lines[3..]), now()).unwrap();
    let v = store.verify(&t).unwrap();
    assert!(v.mismatched.is_empty(), "{:?}", v.mismatched);
    let state = store
        .vehicle(&t, &Vin::parse(VIN_A).unwrap())
        .unwrap()
        .unwrap()
        .state;
    assert_eq!(state.n_events, 5);
    let _ = std::fs::remove_dir_all(dir);
}

/// A vehicle's state row is keyed serial first (migration 7), so that the
/// vehicles of one plant's production sit together in the key's B-tree;
/// a database whose rows still have the VIN's order (written before the
/// migration) answers the same once migrated, and the subjects listed are
/// the vehicles' and resources' own, sorted.
#[test]
fn vehicle_states_are_keyed_serial_first_and_migrated_keys_answer_the_same() {
    let dir = temp_dir("keys");
    let path = dir.join("keys.db");
    let t = tenant("toyota");
    let mut all = journey(VIN_A, "a");
    all.extend(journey(VIN_B, "b"));
    {
        let store = Store::open(path.to_str().unwrap()).unwrap();
        store.append(&t, &events(&all), now()).unwrap();
    }
    let conn = rusqlite_conn(&path);
    let keys = |conn: &rusqlite::Connection| -> Vec<String> {
        let mut stmt = conn
            .prepare(
                "SELECT subject FROM subject_state WHERE subject LIKE 'vin:%' ORDER BY subject",
            )
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    // VIN_A = 4T1DAACK4 TU100001, VIN_B = 5TDAAAB54 RS000013.
    assert_eq!(
        keys(&conn),
        ["vin:RS000013/5TDAAAB54", "vin:TU100001/4T1DAACK4"]
    );
    let before = {
        let store = Store::open(path.to_str().unwrap()).unwrap();
        (
            store.subjects(&t).unwrap(),
            store.vehicle(&t, &Vin::parse(VIN_A).unwrap()).unwrap(),
            store.vehicle(&t, &Vin::parse(VIN_B).unwrap()).unwrap(),
        )
    };
    assert_eq!(
        before
            .0
            .iter()
            .filter(|s| s.starts_with("vin:"))
            .collect::<Vec<_>>(),
        [&format!("vin:{VIN_A}"), &format!("vin:{VIN_B}")]
    );
    assert!(before.1.is_some() && before.2.is_some());
    // Back to the keys of schema version 6, then migration 7 (and those
    // after it) again.
    conn.execute_batch(
        "UPDATE subject_state SET subject = 'vin:' || substr(subject, 14, 9) || substr(subject, 5, 8)
             WHERE subject LIKE 'vin:%';
         DELETE FROM schema_migrations WHERE version >= 7;",
    )
    .unwrap();
    assert_eq!(
        keys(&conn),
        [format!("vin:{VIN_A}"), format!("vin:{VIN_B}")]
    );
    drop(conn);
    let store = Store::open(path.to_str().unwrap()).unwrap();
    assert_eq!(store.schema_version().unwrap(), LATEST_SCHEMA);
    assert_eq!(
        (
            store.subjects(&t).unwrap(),
            store.vehicle(&t, &Vin::parse(VIN_A).unwrap()).unwrap(),
            store.vehicle(&t, &Vin::parse(VIN_B).unwrap()).unwrap(),
        ),
        before
    );
    assert!(store.verify(&t).unwrap().mismatched.is_empty());
    drop(store);
    assert_eq!(
        keys(&rusqlite_conn(&path)),
        ["vin:RS000013/5TDAAAB54", "vin:TU100001/4T1DAACK4"]
    );
    let _ = std::fs::remove_dir_all(dir);
}

fn rusqlite_conn(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

// ---------------------------------------------------------------- PostgreSQL fixture

/// A PostgreSQL server in a temporary directory, stopped on drop.
struct PgServer {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    as_postgres: bool,
}

fn pg_bin() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs.into_iter().rev().find(|d| d.join("initdb").exists())
}

impl PgServer {
    fn start() -> PgServer {
        let bin = pg_bin().unwrap_or_else(|| {
            let ok = Command::new("sh")
                .args(["-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null"])
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "PostgreSQL is not installed and `apt-get install postgresql` failed");
            pg_bin().expect("initdb after installing postgresql")
        });
        let uid = Command::new("id").arg("-u").output().unwrap();
        let as_postgres = String::from_utf8_lossy(&uid.stdout).trim() == "0";
        let data = temp_dir("pg");
        if as_postgres {
            assert!(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(&data)
                    .status()
                    .unwrap()
                    .success()
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let s = PgServer {
            bin,
            data,
            port,
            as_postgres,
        };
        s.run(
            "initdb",
            &[
                "-D",
                s.data.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on",
            s.data.display()
        );
        let log = s.data.join("server.log");
        s.run(
            "pg_ctl",
            &[
                "-D",
                s.data.to_str().unwrap(),
                "-o",
                &opts,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "start",
            ],
        );
        s
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let exe = self.bin.join(tool);
        let status = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&exe)
                .args(args)
                .stdout(std::process::Stdio::null())
                .status()
        } else {
            Command::new(&exe)
                .args(args)
                .stdout(std::process::Stdio::null())
                .status()
        };
        assert!(status.is_ok_and(|s| s.success()), "{tool} {args:?} failed");
    }

    fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    fn create_db(&self, db: &str) {
        let mut c = postgres::Client::connect(&self.url("postgres"), postgres::NoTls).unwrap();
        c.batch_execute(&format!("CREATE DATABASE \"{db}\""))
            .unwrap();
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let exe = self.bin.join("pg_ctl");
        let data = self.data.to_str().unwrap().to_string();
        let args = ["-D", data.as_str(), "-m", "fast", "-w", "stop"];
        let _ = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&exe)
                .args(args)
                .stdout(std::process::Stdio::null())
                .status()
        } else {
            Command::new(&exe)
                .args(args)
                .stdout(std::process::Stdio::null())
                .status()
        };
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

#[test]
fn postgres_backend_suite() {
    let server = PgServer::start();
    let created = std::sync::Mutex::new(std::collections::BTreeSet::new());
    suite(
        &|name| {
            if created.lock().unwrap().insert(name.to_string()) {
                server.create_db(name);
            }
            Store::open(&server.url(name)).unwrap()
        },
        &|name| server.url(name),
    );
    // The log refuses UPDATE and DELETE.
    let mut c = postgres::Client::connect(&server.url("reopen"), postgres::NoTls).unwrap();
    assert!(c.execute("UPDATE event_log SET flags = '[]'", &[]).is_err());
    assert!(c.execute("DELETE FROM event_log", &[]).is_err());
    // Migration 8: the log's one index is its unique key (no primary key
    // on `seq`, which its sequence still fills in append order).
    let indexes: Vec<String> = c
        .query(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'event_log' ORDER BY indexname",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(indexes, ["event_log_tenant_event_id_kind_key"]);
    let seqs: Vec<i64> = c
        .query("SELECT seq FROM event_log ORDER BY seq", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(!seqs.is_empty() && seqs.windows(2).all(|w| w[0] < w[1]));
    // A database written by version 4 migrates.
    server.create_db("v4");
    let mut c = postgres::Client::connect(&server.url("v4"), postgres::NoTls).unwrap();
    c.batch_execute("CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())").unwrap();
    for (v, name, _, sql) in &takt_store::backend::MIGRATIONS[..4] {
        c.batch_execute(sql).unwrap();
        c.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[v, name],
        )
        .unwrap();
    }
    c.batch_execute(&format!("BEGIN; {} COMMIT;", v4_rows_sql(&v4_events())))
        .unwrap();
    drop(c);
    server.create_db("v4_fresh");
    version_4_database_answers_the_same_after_migration_5(
        &Store::open(&server.url("v4")).unwrap(),
        &Store::open(&server.url("v4_fresh")).unwrap(),
    );
}

// ---------------------------------------------------------------- EPCIS conformance

fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/epcis/openepcis-2.0/Capture")
}

fn files(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(suite_dir().join(dir))
        .unwrap_or_else(|e| panic!("the openepcis suite at {}: {e}", suite_dir().display()))
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

#[test]
fn epcis_conformance_valid_documents_and_events_are_accepted_and_stored() {
    let dir = temp_dir("conformance");
    let store = Store::open(dir.join("c.db").to_str().unwrap()).unwrap();
    let mut n = 0;
    for folder in ["Documents", "Events"] {
        for f in files(folder) {
            let text = std::fs::read_to_string(&f).unwrap();
            let evs =
                epcis::parse_capture(&text).unwrap_or_else(|r| panic!("{}: {r}", f.display()));
            assert!(!evs.is_empty(), "{}", f.display());
            // Each document under its own tenant: the suite reuses event
            // ids across files with different content (a conflict within
            // one tenant). Historic event times are late, never rejected.
            let t = tenant(&format!("conformance-{n}"));
            let received: Timestamp = "2027-01-01T00:00:00Z".parse().unwrap();
            store
                .append(&t, &evs, received)
                .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            n += 1;
        }
    }
    assert_eq!(n, 43);
    for i in 0..n {
        assert!(
            store
                .verify(&tenant(&format!("conformance-{i}")))
                .unwrap()
                .mismatched
                .is_empty()
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn epcis_conformance_invalid_documents_are_rejected_saying_what_is_wrong() {
    let mut n = 0;
    for f in files("Invalid") {
        let text = std::fs::read_to_string(&f).unwrap();
        let r = epcis::parse_capture(&text).expect_err(&f.display().to_string());
        assert!(!r.0.is_empty());
        for b in &r.0 {
            assert!(b.reason.len() > 20, "{}: {b}", f.display());
        }
        n += 1;
    }
    assert_eq!(n, 15);
}

#[test]
fn epcis_rejections_name_the_field_and_the_rule() {
    let doc = |event: serde_json::Value| {
        json!({"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld", {"ex": "https://ex.example/"}],
               "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2026-03-01T00:00:00Z",
               "epcisBody": {"eventList": [event]}})
        .to_string()
    };
    let base = json!({"type": "ObjectEvent", "eventTime": "2026-03-02T06:00:00.000-05:00",
        "eventTimeZoneOffset": "-05:00", "action": "OBSERVE", "epcList": ["urn:takt:vin:4T1DAACK4TU100001"],
        "bizStep": "departing"});
    assert!(epcis::parse_capture(&doc(base.clone())).is_ok());
    let cases: Vec<(&str, serde_json::Value, Code)> = vec![
        ("/bizStep", json!("departure"), Code::Vocabulary),
        ("/disposition", json!("in_transport"), Code::Vocabulary),
        ("/action", json!("CREATE"), Code::Vocabulary),
        (
            "/eventTime",
            json!("2026-03-02T06:00:00"),
            Code::InvalidField,
        ),
        ("/myField", json!(1), Code::UnknownField),
        ("/zz:myField", json!(1), Code::UnknownField),
        (
            "/epcList",
            json!(["urn:takt:vin:4T1DAACK5TU100001"]),
            Code::InvalidField,
        ),
    ];
    for (field, value, code) in cases {
        let mut e = base.clone();
        e[&field[1..]] = value;
        let r = epcis::parse_capture(&doc(e)).expect_err(field);
        assert_eq!(r.0[0].code, code, "{field}: {}", r.0[0]);
        assert!(
            r.0[0]
                .pointer
                .starts_with(&format!("/epcisBody/eventList/0{field}")),
            "{}",
            r.0[0]
        );
    }
    let r = epcis::parse_capture(&doc(json!({"type": "ObjectEvent", "epcList": ["urn:x:1"]})))
        .unwrap_err();
    let pointers: Vec<&str> = r.0.iter().map(|b| b.pointer.as_str()).collect();
    assert_eq!(
        pointers,
        [
            "/epcisBody/eventList/0/eventTime",
            "/epcisBody/eventList/0/eventTimeZoneOffset",
            "/epcisBody/eventList/0/action"
        ]
    );
    // A namespaced extension with a declared prefix is fine.
    let mut e = base;
    e["ex:dock"] = json!("7");
    assert!(epcis::parse_capture(&doc(e)).is_ok());
}

#[test]
fn epcis_vehicle_events_map_to_takt_milestones() {
    let text = json!({
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld", {"takt": "urn:takt:epcis:"}],
        "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2026-03-06T00:00:00Z",
        "epcisBody": {"eventList": [
            {"type": "ObjectEvent", "eventID": "urn:uuid:1", "eventTime": "2026-03-05T00:00:00-08:00",
             "eventTimeZoneOffset": "-08:00", "action": "OBSERVE", "bizStep": "arriving",
             "epcList": ["urn:epc:id:giai:0614141.4T1DAACK4TU100001", "https://id.gs1.org/8004/06141415TDAAAB54RS000013"],
             "readPoint": {"id": "urn:takt:loc:USLGB"}},
            {"type": "ObjectEvent", "eventID": "urn:uuid:2", "eventTime": "2026-03-05T01:00:00-08:00",
             "eventTimeZoneOffset": "-08:00", "action": "OBSERVE", "bizStep": "urn:epcglobal:cbv:bizstep:holding",
             "disposition": "damaged", "epcList": ["urn:takt:vin:4T1DAACK4TU100001"],
             "bizLocation": {"id": "urn:takt:loc:USLGB"}},
            {"type": "ObjectEvent", "eventID": "urn:uuid:3", "eventTime": "2026-03-05T02:00:00-08:00",
             "eventTimeZoneOffset": "-08:00", "action": "OBSERVE", "bizStep": "https://ref.gs1.org/cbv/BizStep-departing",
             "takt:milestone": "vessel_departed", "takt:voyage": "V7",
             "epcList": ["urn:takt:vin:4T1DAACK4TU100001"]}
        ]}})
    .to_string();
    let evs = epcis::parse_capture(&text).unwrap();
    let facts: Vec<_> = evs
        .iter()
        .map(|e| match &e.body {
            takt_store::Body::Vehicle(v) => (
                v.vins.len(),
                v.milestone.clone(),
                v.location.clone(),
                v.reason.clone(),
            ),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        facts[0],
        (2, "port_arrived".into(), Some("USLGB".into()), None)
    );
    assert_eq!(
        facts[1],
        (
            1,
            "hold_placed".into(),
            Some("USLGB".into()),
            Some("damaged".into())
        )
    );
    assert_eq!(facts[2].1, "vessel_departed");
    assert_eq!(evs[0].at.to_string(), "2026-03-05T08:00:00Z");
    // The event without an eventID gets a stable content hash.
    let sgtin = std::fs::read_to_string(suite_dir().join("Events/ObjectEvent.json")).unwrap();
    let a = epcis::parse_capture(&sgtin).unwrap();
    let b = epcis::parse_capture(&sgtin).unwrap();
    assert!(a[0].event_id.starts_with("ni:///sha-256;"));
    assert_eq!(a[0].event_id, b[0].event_id);
}

// ---------------------------------------------------------------- takt formats

#[test]
fn csv_and_json_of_the_same_milestone_are_the_same_event() {
    let j = journey(VIN_A, "csv");
    let json_events = events(&j);
    let mut csv = takt_format::CSV_COLUMNS.join(",") + "\n";
    for m in &j {
        let cell = |k: &str| m.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
        csv += &takt_format::CSV_COLUMNS
            .iter()
            .map(|k| cell(k))
            .collect::<Vec<_>>()
            .join(",");
        csv += "\n";
    }
    let csv_events: Vec<Event> = takt_format::parse_csv(&csv)
        .unwrap()
        .into_iter()
        .map(|i| i.event)
        .collect();
    assert_eq!(csv_events, json_events);
    let bad = format!(
        "{}\ncsv-x,{VIN_A},toyota,camry,teleported,inland,2026-03-02,GEO,GEO/x,,,\n",
        takt_format::CSV_COLUMNS.join(",")
    );
    let r = takt_format::parse_csv(&bad).unwrap_err();
    assert_eq!(r.0[0].index, 0);
    assert!(r.0[0].pointer.starts_with("/0/"), "{}", r.0[0]);
}

#[test]
fn takt_json_rejects_each_bad_line_with_its_index() {
    let good = milestone(
        "j-1",
        VIN_A,
        "released",
        "released",
        "2026-03-02T06:00:00Z",
        "GEO",
    );
    let mut bad_vin = good.clone();
    bad_vin["vin"] = json!("4T1DAACK5TU100001");
    let mut bad_stage = good.clone();
    bad_stage["stage"] = json!("inland");
    let mut extra = good.clone();
    extra["colour"] = json!("red");
    let text = [good, bad_vin, bad_stage, extra]
        .iter()
        .map(|v| v.to_string() + "\n")
        .collect::<String>()
        + "{not json\n";
    let r = takt_format::parse_json(&text).unwrap_err();
    let got: Vec<(usize, Code, &str)> =
        r.0.iter()
            .map(|b| (b.index, b.code, b.pointer.as_str()))
            .collect();
    assert_eq!(
        got,
        vec![
            (1, Code::InvalidField, "/vin"),
            (2, Code::InvalidField, "/stage"),
            (3, Code::UnknownField, "/colour"),
            (4, Code::Syntax, ""),
        ]
    );
}

// ---------------------------------------------------------------- property

fn arb_rows() -> impl Strategy<Value = Vec<LogRow>> {
    let names: Vec<(&str, &str)> = vec![
        ("released", "released"),
        ("inland_departed", "inland"),
        ("port_arrived", "port_arrival"),
        ("processing_started", "processing"),
        ("yard_staged", "yard"),
        ("hold_placed", "yard"),
        ("hold_released", "yard"),
        ("routed", "released"),
        ("rolled", "yard"),
        ("checklist_item_done", "certification"),
    ];
    prop::collection::vec(
        (0..names.len(), 0i64..5, 0..3usize, any::<bool>(), 0..2usize),
        1..25,
    )
    .prop_map(move |spec| {
        spec.into_iter()
            .enumerate()
            .flat_map(|(i, (m, hour, loc, retract, reason))| {
                let (name, stage) = names[m];
                let mut v = milestone(
                    &format!("p-{i}"),
                    VIN_A,
                    name,
                    stage,
                    &format!("2026-03-02T0{hour}:00:00Z"),
                    ["GEO", "USLGB", "JPNGO"][loc],
                );
                if name.starts_with("hold") {
                    v["reason"] = json!(["damage", "customs"][reason]);
                }
                if name == "checklist_item_done" {
                    v["item"] = json!("marking");
                }
                let e = events(&[v]).remove(0);
                let row = |event: Event| LogRow {
                    event,
                    received_at: now(),
                    flags: vec![],
                };
                let mut out = vec![row(e.clone())];
                if retract {
                    let mut d = e;
                    d.error_declaration = Some(ErrorDeclaration {
                        declaration_time: now(),
                        reason: Some("did_not_occur".into()),
                        corrective_event_ids: vec![],
                    });
                    out.push(row(d));
                }
                out
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
    /// Shuffling and duplicating rows never changes the derived state or history.
    #[test]
    fn shuffle_and_duplicate_never_change_derived_state(
        rows in arb_rows(),
        seed in any::<u64>(),
        dups in prop::collection::vec(any::<prop::sample::Index>(), 0..10),
    ) {
        let vin = Vin::parse(VIN_A).unwrap();
        let base = derive_vehicle(vin, &rows);
        let mut shuffled = rows.clone();
        for d in &dups {
            shuffled.push(rows[d.index(rows.len())].clone());
        }
        // Fisher-Yates with a small LCG from the seed.
        let mut s = seed;
        for i in (1..shuffled.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (s >> 33) as usize % (i + 1));
        }
        prop_assert_eq!(derive_vehicle(vin, &shuffled), base);
    }

    /// Applying events that come after every stored one to the stored
    /// state and tail gives what deriving from all rows gives.
    #[test]
    fn applying_later_events_to_the_stored_state_equals_deriving_again(
        rows in arb_rows(),
        cut in any::<prop::sample::Index>(),
    ) {
        let subject = format!("vin:{VIN_A}");
        let retracted: Vec<&str> = rows
            .iter()
            .filter(|r| r.is_retraction())
            .map(|r| r.event.event_id.as_str())
            .collect();
        let mut plain: Vec<&LogRow> = rows.iter().filter(|r| !r.is_retraction()).collect();
        plain.sort_by(|a, b| order_key(&a.event).cmp(&order_key(&b.event)));
        let c = cut.index(plain.len() + 1);
        let later: Vec<&LogRow> = plain[c..]
            .iter()
            .copied()
            .filter(|r| !retracted.contains(&r.event.event_id.as_str()))
            .collect();
        let stored: Vec<LogRow> = rows
            .iter()
            .filter(|r| !later.iter().any(|l| std::ptr::eq(*l, *r)))
            .cloned()
            .collect();
        let before = derive_subject(&subject, &stored).unwrap();
        prop_assume!(later.iter().all(|r| before
            .tail
            .last
            .as_ref()
            .is_none_or(|k| k.precedes(&r.event))));
        let events: Vec<&Event> = later.iter().map(|r| &r.event).collect();
        let applied = apply_subject(&subject, Some(&before.state), &before.tail, &events).unwrap();
        prop_assert_eq!(applied, derive_subject(&subject, &rows).unwrap());
    }
}
