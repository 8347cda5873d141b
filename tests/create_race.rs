//! Racing `create`s of one id (issue 18, item 7): exactly one wins, every other one fails with
//! "already exists" having left nothing of its own, and the winner's container is intact
//! (`state`, `start`, `exec`, `delete` work on it). runc: `container with id exists: ID`.

mod common;

use std::fs;
use std::process::Output;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::*;

const RACERS: usize = 8;
const ROUNDS: usize = 20;

#[test]
fn one_of_many_racing_creates_of_an_id_wins() {
    let w = World::new("create-race");
    let b = w.bundle("b", &["sleep", "1000"]);
    for round in 0..ROUNDS {
        let id = format!("race{round}");
        let barrier = Arc::new(Barrier::new(RACERS));
        let racers: Vec<_> = (0..RACERS)
            .map(|_| {
                let c = w.hr_cmd(&["create", "--bundle", b.to_str().unwrap(), &id]);
                let (dir, barrier) = (w.dir.clone(), barrier.clone());
                std::thread::spawn(move || -> Output {
                    barrier.wait();
                    // each racer's own output files: output_via_files numbers them
                    output_via_files(c, &dir, Duration::from_secs(60))
                })
            })
            .collect();
        let outs: Vec<Output> = racers.into_iter().map(|t| t.join().unwrap()).collect();
        let winners = outs.iter().filter(|o| o.status.success()).count();
        let errors: Vec<String> = outs
            .iter()
            .filter(|o| !o.status.success())
            .map(stderr)
            .collect();
        assert_eq!(
            winners, 1,
            "round {round}: {winners} of {RACERS} creates of {id} succeeded; the others said {errors:#?}"
        );
        for e in &errors {
            assert!(
                e.contains("already exists") && e.contains(&id),
                "round {round}: a losing create must say the id exists: {e}"
            );
        }
        // the winner's container is whole
        assert_eq!(w.state(&id)["status"], "created", "round {round}");
        let staging = w.root.join(".staging").join(&id);
        assert!(
            !staging.exists(),
            "round {round}: {} left behind",
            staging.display()
        );
        let out = w.hr(&["start", &id]);
        assert!(
            out.status.success(),
            "round {round}: start: {}",
            stderr(&out)
        );
        let out = w.hr(&["exec", &id, "true"]);
        assert!(
            out.status.success(),
            "round {round}: exec: {}",
            stderr(&out)
        );
        let out = w.hr(&["delete", "--force", &id]);
        assert!(
            out.status.success(),
            "round {round}: delete: {}",
            stderr(&out)
        );
        w.assert_nothing_left(&id);
        // and nothing of the losers either: no container, no staging entry
        let left: Vec<String> = fs::read_dir(&w.root)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != ".staging" && !STATE_ROOT_CACHES.contains(&n.as_str()))
            .collect();
        assert!(left.is_empty(), "round {round}: left in the root: {left:?}");
        let staged: Vec<String> = fs::read_dir(w.root.join(".staging"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        assert!(
            staged.is_empty(),
            "round {round}: left in .staging: {staged:?}"
        );
    }
}
