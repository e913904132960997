// The execution engine (pure: no vscode): plan cells, run them, report a transcript. See engine.ts.
export { RunEngine, DEFAULT_EVENTS_PER_CELL, type BatchOptions, type CellJob, type EngineClient, type EngineOptions, type BatchResult } from './engine';
export { StopRequest, failureKindOf, isSessionFailure } from './errors';
export { compareReply, MAX_DIFFERENCES, type Comparison } from './compare';
export {
  CODE_LANGUAGES, isCodeLanguage, isOobPlan, planCell, describeProblem,
  type CodeLanguage, type CellPlan, type Step, type CommandStep, type WaitStep, type PlanProblem, type ExpectedEvent, type EventExpectations,
} from './plan';
export { EventMatcher, eventKey, type ExpectedEventVerdict } from './expectEvents';
export { cellRules, metadataFront, metadataRules, notebookRules, type TestFront, type TestRules } from './rules';
export type * from './transcript';
export { Batcher } from './batcher';
export { JobWatcher, jobsOfCommand, MIGRATION_ID, type JobEnd, type JobKind, type JobOutcome, type JobView } from './progress';
export {
  NamedReplies, resolveReference, substituteStep, substituteTree, argumentReferences, compactJson, interpolatedText, type NamedEntry,
} from './namedReplies';
export { EventGrouping, groupOutputs } from './eventGrouping';
