// Package wire is what crosses the execution sandbox's trust boundary:
// the request the host service sends the helper inside the jail, the
// frames the helper sends back, and the types of a command's result that
// both sides build ([File], [CommandResult], [Status], [Stream],
// [Duration], [SpecError] and [CheckRelPath]).
//
// It sits below both sides: package sandbox (the host service) and package
// jail (the helper) import it, and it imports only the standard library,
// so neither side reaches the other through it.
//
// # Threat model
//
// Everything here is read on both sides of the boundary, and the reader on
// the host must assume the writer is hostile: the helper shares its jail
// and its uid with the program it runs. So the format is small and
// bounded: a request is one JSON value on the helper's stdin; frames are a
// type byte, a 32-bit length no larger than [MaxFrame], and a payload;
// [ReadFrame] refuses larger frames unread and [CheckRelPath] is the one
// check of a path, used by the service on a spec, by the helper before it
// writes a file, and by the service again on every file the helper returns.
//
// # Files
//
//   - proto.go: the protocol — [Request], [Command], [Copy], the frame
//     types, [Writer] (used in the jail) and [ReadFrame] and
//     [ParseOutput] (used on the host).
//   - types.go: the result types both sides share.
//   - check.go: [SpecError] and [CheckRelPath].
package wire
