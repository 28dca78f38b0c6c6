package workflow

// AssembleAttempts is assembleAttempts, for the tests of package
// workflow_test.
const AssembleAttempts = assembleAttempts
