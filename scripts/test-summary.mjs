// Prints CI's closing line from every report of the run: "Tests: N passed, N failed[, N skipped]".
//   node scripts/test-summary.mjs REPORT...
// A REPORT is a vitest JSON report, or the array scripts/test-runtimes.sh writes
// ([{ runtime, version, suite, passed, failed }]). A missing or unreadable report counts as a failure.
// Each failed test is named (report, file, test, first line of its error) above the closing line,
// so that the end of a long CI log says what failed.
import { readFileSync } from 'node:fs';

let passed = 0;
let failed = 0;
let skipped = 0;
const failures = [];
for (const file of process.argv.slice(2)) {
  let report;
  try {
    report = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    console.log(`summary: ${file}: no report (${err.message})`);
    failed++;
    continue;
  }
  if (Array.isArray(report)) {
    for (const row of report) {
      passed += row.passed;
      failed += row.failed;
      if (row.failed > 0) failures.push(`${file}: ${row.runtime} ${row.version} ${row.suite}: ${row.failed} failed`);
    }
  } else {
    passed += report.numPassedTests;
    failed += report.numFailedTests;
    skipped += report.numPendingTests + report.numTodoTests;
    if (report.numTotalTests === 0) failed++;
    for (const suite of report.testResults ?? []) {
      const tests = suite.assertionResults ?? [];
      for (const test of tests.filter((t) => t.status === 'failed')) {
        const why = String(test.failureMessages?.[0] ?? '').split('\n')[0].slice(0, 300);
        failures.push(`${file}: ${suite.name}: ${test.fullName}: ${why}`);
      }
      // A file that failed to load has no failed test of its own.
      if (suite.status === 'failed' && !tests.some((t) => t.status === 'failed')) {
        failures.push(`${file}: ${suite.name}: ${String(suite.message ?? '').split('\n')[0].slice(0, 300)}`);
      }
    }
  }
}
for (const line of failures) console.log(`FAILED ${line}`);
console.log(`Tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exitCode = failed > 0 || passed === 0 ? 1 : 0;
