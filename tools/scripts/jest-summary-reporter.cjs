// Ends each Jest run with one plain line, `<tier>: N passed, N failed`, that CI can read whatever
// runner printed above it.
class SummaryReporter {
  constructor(_globalConfig, options = {}) {
    this.tier = options.tier ?? 'tests';
  }

  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    const tail = skipped > 0 ? `, ${skipped} skipped` : '';
    process.stdout.write(
      `\n${this.tier}: ${results.numPassedTests} passed, ${results.numFailedTests} failed${tail}\n`,
    );
  }
}

module.exports = SummaryReporter;
