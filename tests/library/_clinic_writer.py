"""Child process of the kill test: writes clinic cases in a loop and reports each commit.

``python -m tests.library._clinic_writer DB SHARED_DATA MODE``

Each case is 60 s of real PTB-XL signal (six records in a row: a BLOB over several pages).
After every commit it prints ``committed <index> <content_hash>``. In mode ``freeze`` the fifth
write stops inside its transaction, after its INSERT and before COMMIT, prints
``inflight <index> <content_hash>`` and waits on stdin for the kill; in mode ``storm`` it writes
on until killed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from desktop_app.library import ClinicStore, content_hash
from tests.library._real import pack_signals


def case_signal(signals: np.ndarray, i: int) -> np.ndarray:
    n = len(signals)
    return np.concatenate([signals[(6 * i + j) % n] for j in range(6)], axis=1)


def main() -> None:
    db, shared, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    _, signals = pack_signals(shared)
    store = ClinicStore(db)
    state = {"i": 0}

    def freeze(what: str) -> None:
        if what == "add" and state["i"] == 4:
            sig = case_signal(signals, state["i"])
            print(f"inflight {state['i']} {content_hash(sig, 100.0)}", flush=True)
            sys.stdin.readline()  # blocks until the parent kills us

    if mode == "freeze":
        store._before_commit = freeze
    print("ready", flush=True)
    while True:
        i = state["i"]
        sig = case_signal(signals, i)
        vec = np.resize(sig[:, ::500].ravel(), 32)
        store.add(sig, 100.0, diagnosis=f"case {i}", embedding=vec + 1.0,
                  encoder_version="kill-test")
        print(f"committed {i} {content_hash(sig, 100.0)}", flush=True)
        state["i"] += 1


if __name__ == "__main__":
    main()
