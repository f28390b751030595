// Prints CI's closing line from every report of the run: "Tests: N passed, N failed[, N skipped]".
//   node scripts/test-summary.mjs REPORT...
// A REPORT is a vitest JSON report, or the array scripts/test-runtimes.sh writes
// ([{ runtime, version, suite, passed, failed }]). A missing or unreadable report counts as a failure.
import { readFileSync } from 'node:fs';

let passed = 0;
let failed = 0;
let skipped = 0;
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
    }
  } else {
    passed += report.numPassedTests;
    failed += report.numFailedTests;
    skipped += report.numPendingTests + report.numTodoTests;
    if (report.numTotalTests === 0) failed++;
  }
}
console.log(`Tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exitCode = failed > 0 || passed === 0 ? 1 : 0;
