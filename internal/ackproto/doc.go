// Package ackproto is the acknowledged push protocol that `sshlogfwd push
// --reliable` speaks on the standard input of ssh and `sshlogfwd receive`
// answers on its standard output.
//
// The sender's spool is one byte stream of whole lines whose offsets never
// repeat, named by a random stream id. Data frames say at which offset they
// start; the receiver acknowledges an offset once everything before it is
// fsynced, and on every connection first says how far the stream reached
// it, so the sender resumes exactly there: nothing twice, nothing missing.
// Both directions start with a hello line and then carry frames with
// one-line ASCII headers (sender: D data, G gap; receiver: A ack, E error).
//
// The grammar, the handshake, the error codes and the limits are written
// out in full in docs/protocol.md ("The acknowledged push protocol"), the
// one place that defines them; change that page with this package.
package ackproto
