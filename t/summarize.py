"""Counts the suite's results: cmocka/TAP .trs files and pytest's JUnit XML.

Prints "N passed, N failed[, N skipped]"; exits non-zero when anything
failed or make check itself failed (rc given as the last argument).
"""
import glob
import os
import sys
import xml.etree.ElementTree as ET


def tap_counts(unit_dir):
    passed = failed = skipped = 0
    for trs in glob.glob(os.path.join(unit_dir, "*.trs")):
        for line in open(trs):
            if line.startswith(":test-result: PASS"):
                passed += 1
            elif line.startswith(":test-result: SKIP"):
                skipped += 1
            elif line.startswith(":test-result:"):
                failed += 1
    return passed, failed, skipped


def junit_counts(path):
    if not os.path.exists(path):
        return 0, 1, 0  # the suite did not even report
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    total = sum(int(s.get("tests", 0)) for s in suites)
    bad = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
    skipped = sum(int(s.get("skipped", 0)) for s in suites)
    return total - bad - skipped, bad, skipped


def main():
    unit_dir, junit, rc = sys.argv[1], sys.argv[2], int(sys.argv[3])
    up, uf, us = tap_counts(unit_dir)
    ip, if_, is_ = junit_counts(junit)
    passed, failed, skipped = up + ip, uf + if_, us + is_
    if rc != 0 and failed == 0:
        failed = 1  # make check failed outside any counted test
    line = "%d passed, %d failed" % (passed, failed)
    if skipped:
        line += ", %d skipped" % skipped
    print(line)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
