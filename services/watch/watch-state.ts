// The run's fold is shared with `fleet dashboard`, so it lives in src/events (a service imports no other service).
export * from '../../src/events/run-view.js';
