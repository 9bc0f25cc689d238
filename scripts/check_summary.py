"""make check's last line: the tests of every build it ran, in one line.

Usage: python3 check_summary.py STEPS_FILE JUNIT...

Each JUnit file is one ctest run (ctest --output-junit), named after its
build (build.xml, build-io_uring.xml, ...). STEPS_FILE holds a line per
step that is not a ctest run ("install ok", "fuzz smoke: 7 targets ok",
"stopped at build/asan"). A skipped test's reason is the last line it
printed (a test that skips says why: exit 77 after a message). Prints

  check: 2431 passed, 0 failed, 9 skipped over 6 runs (...) + steps;
  skipped: alloc_walk.fetch x3: why; ...

and exits 1 if any test failed.
"""
import os
import sys
import xml.etree.ElementTree as ET


def main():
    steps_file, junits = sys.argv[1], sys.argv[2:]
    passed = failed = 0
    runs, failures, skips = [], [], {}
    for path in sorted((j for j in junits if os.path.exists(j)), key=os.path.getmtime):  # in the order they ran
        run = os.path.splitext(os.path.basename(path))[0]
        runs.append(run)
        for case in ET.parse(path).getroot().iter("testcase"):
            name, status = case.get("name"), case.get("status")
            if status == "run":
                passed += 1
            elif status == "notrun" and case.find("skipped") is not None:
                out = (case.findtext("system-out") or "").strip().splitlines()
                why = out[-1].strip() if out else "no reason given"
                why = why[len("skipped: "):] if why.lower().startswith("skipped: ") else why
                skips.setdefault((name, why), []).append(run)
            else:  # fail, or notrun without a skip: did not start, timed out
                failed += 1
                failures.append("%s (%s)" % (name, run))
    steps = [l.strip() for l in open(steps_file)] if os.path.exists(steps_file) else []
    nskip = sum(len(r) for r in skips.values())
    line = "check: %d passed, %d failed, %d skipped, over %d ctest runs (%s)" % (
        passed, failed, nskip, len(runs), ", ".join(runs))
    if steps:
        line += "; " + "; ".join(steps)
    if failures:
        line += "; failed: " + ", ".join(failures)
    if skips:
        line += "; skipped: " + "; ".join(
            "%s%s: %s" % (name, " x%d" % len(r) if len(r) > 1 else "", why) for (name, why), r in sorted(skips.items()))
    print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
