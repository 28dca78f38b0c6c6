// Package vocab holds the platform's closed word lists — the languages it
// builds and their aliases, the model tiers and the task complexities that
// route to them, and a review's timeout policies — so that every package
// that accepts one of these words accepts the same words, spells them the
// same way in its errors, and changes with the others when the list does.
//
// It imports nothing of the platform: the store, the services and the
// workflow all sit above it.
package vocab
