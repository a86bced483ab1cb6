// The registry under test runs from the compiled build, exactly as `npm start` runs it.
const { execFileSync } = require('node:child_process');
const path = require('node:path');

module.exports = async () => {
  execFileSync(process.execPath, [path.join(__dirname, 'tools/scripts/build.cjs')], { stdio: 'inherit' });
};
