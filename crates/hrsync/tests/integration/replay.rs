//! Issue 14 §5: replay. A full run keeps the HR records it fetched; `hrsync replay` maps them
//! with a new configuration and shows what would change, against the old configuration and
//! against the directory now, and writes nothing. Real slapd, IceHrm emulator in-process, the
//! real binary.

use crate::common::*;
use hrsync_emulator::icehrm::Fault;
use hrsync_engine::Mode;

/// Every value of `attr` under the fixture's people OU, sorted (what "nothing written" checks).
async fn values(fx: &Fx, attr: &str) -> Vec<String> {
    let mut out: Vec<String> = fx
        .search("(employeeNumber=*)")
        .await
        .into_iter()
        .flat_map(|e| {
            let dn = e.dn.clone();
            e.attrs
                .get(attr)
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |v| format!("{dn}: {v}"))
        })
        .collect();
    out.sort();
    out
}

fn snapshots(fx: &Fx) -> Vec<std::path::PathBuf> {
    let dir = fx.dir.path().join("state.db.hr-snapshots").join("staff");
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_of_a_real_run_with_a_misspelt_field_reports_every_mail_removal_and_writes_nothing()
{
    let fx = Fx::new("replay-typo", 188, "uid", STAFF_ATTRS).await;
    let first = fx.run(Mode::Apply).await;
    assert_eq!(first.applied_failed, 0);
    let run = first.run_id;
    let kept = snapshots(&fx);
    assert_eq!(kept.len(), 1, "{kept:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&kept[0]).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the snapshot holds HR data");
    }
    let mails = values(&fx, "mail").await;
    let with_mail = mails.len();
    assert!(with_mail > 150, "{with_mail}");

    // The new configuration: the typo that cleared mail on 188 accounts in issue 11.
    let text = std::fs::read_to_string(&fx.cfg_path).unwrap();
    let new_cfg = fx.dir.path().join("new.toml");
    std::fs::write(
        &new_cfg,
        text.replace("mail = \"{work_email}\"", "mail = \"{work_emial}\""),
    )
    .unwrap();
    let runs_before = fx.store().runs(100).unwrap().len();
    let links_before = fx.store().links("staff").unwrap();

    let (code, out) = cli_async(
        &new_cfg,
        &["replay", "--run", &run.to_string(), "--json"],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["run_id"], run);
    assert_eq!(v["records"], 188);
    assert_eq!(v["written"], false);
    // (a) against the old configuration (the text run 1 used, kept in the snapshot).
    let old = &v["versus_old"];
    // Every HR record with a work e-mail loses it (a few of them are leavers who never got
    // an account: more than the directory's count).
    let removed = old["attributes"]["mail"]["removed"].as_u64().unwrap() as usize;
    assert!(removed >= with_mail, "{old}");
    assert_eq!(
        old["attributes"].as_object().unwrap().len(),
        1,
        "only mail: {old}"
    );
    assert_eq!(old["people_changed"], removed);
    assert_eq!(old["dn_changed"], 0);
    assert_eq!(old["became_leavers"], 0);
    assert!(
        old["examples"][0]["attrs"][0]["after"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{old}"
    );
    // (b) against the directory now: the same removals, held by the threshold, nobody
    // disabled.
    let d = &v["versus_directory"];
    assert_eq!(d["attributes"]["mail"]["removed"], with_mail, "{d}");
    assert_eq!(d["summary"]["update"], with_mail, "{d}");
    assert_eq!(d["summary"]["disable"], 0, "{d}");
    assert_eq!(d["summary"]["create"], 0, "{d}");
    assert_eq!(d["held"], with_mail, "{d}");
    assert_eq!(d["managed_not_in_snapshot"], 0, "{d}");

    // The text says it plainly.
    let (code, out) = cli_async(&new_cfg, &["replay", "--run", &run.to_string()], &[]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("mail: {with_mail} REMOVED")), "{out}");
    assert!(out.contains("HELD by thresholds"), "{out}");
    assert!(out.contains("removal(s) of mail"), "{out}");
    assert!(
        !out.contains("--confirm-held"),
        "replay has no run to confirm: {out}"
    );
    assert!(out.contains("Nothing was written"), "{out}");

    // Nothing was written: the directory, the runs, the links.
    assert_eq!(values(&fx, "mail").await, mails);
    assert_eq!(fx.store().runs(100).unwrap().len(), runs_before);
    assert_eq!(fx.store().links("staff").unwrap(), links_before);

    // The unchanged configuration replays to no change at all.
    let (code, out) = cli_async(&fx.cfg_path, &["replay", "--json"], &[]).await;
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["versus_old"]["people_changed"], 0, "{v}");
    assert_eq!(v["versus_directory"]["summary"]["update"], 0, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_complete_full_fetches_are_kept_and_only_the_last_few() {
    let fx = Fx::new("replay-keep", 25, "uid", STAFF_ATTRS).await;
    let text = std::fs::read_to_string(&fx.cfg_path).unwrap();
    std::fs::write(
        &fx.cfg_path,
        text.replace(
            "path = \"state.db\"",
            "path = \"state.db\"\nkeep_hr_snapshots = 2",
        ),
    )
    .unwrap();
    let mut runs = Vec::new();
    for _ in 0..3 {
        runs.push(fx.run(Mode::Plan).await.run_id);
    }
    let names: Vec<String> = snapshots(&fx)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        vec![
            format!("run-{}.jsonl.gz", runs[1]),
            format!("run-{}.jsonl.gz", runs[2])
        ]
    );
    // An incomplete fetch keeps nothing (and leaves no partial file).
    fx.emu.set_fault(Fault::FailListPage {
        page: 2,
        status: 500,
    });
    let r = fx.run(Mode::Plan).await;
    assert!(!r.plan.fetch.complete);
    assert_eq!(snapshots(&fx).len(), 2);
    // Replaying a run that kept none says which runs are kept.
    let (code, out) = cli_async(
        &fx.cfg_path,
        &["replay", "--run", &r.run_id.to_string()],
        &[],
    )
    .await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("no HR snapshot of run {}", r.run_id)),
        "{out}"
    );
    assert!(
        out.contains(&format!("run {}, run {}", runs[1], runs[2])),
        "{out}"
    );
    // keep_hr_snapshots = 0 keeps none.
    fx.emu.clear_faults();
    let text = std::fs::read_to_string(&fx.cfg_path).unwrap();
    std::fs::write(
        &fx.cfg_path,
        text.replace("keep_hr_snapshots = 2", "keep_hr_snapshots = 0"),
    )
    .unwrap();
    let r = fx.run(Mode::Plan).await;
    assert!(r.plan.fetch.complete);
    assert_eq!(snapshots(&fx).len(), 2);
}
