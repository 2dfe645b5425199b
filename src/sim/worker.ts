import { runRequest, type WorkRequest } from './runner.js';

/** A child process of the sim runner: runs the seeds it is sent, one at a time. */
process.on('message', (request: WorkRequest) => {
  process.send!(runRequest(request));
});
process.on('disconnect', () => process.exit(0));
