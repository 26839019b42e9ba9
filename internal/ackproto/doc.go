// Package ackproto is the acknowledged push protocol that `sshlogfwd push
// --reliable` speaks on the standard input of ssh and `sshlogfwd receive`
// answers on its standard output.
//
// The sender's spool is one byte stream of whole lines with offsets that
// never repeat (internal/spool); a stream is named by a random stream id
// kept with the spool. The protocol moves bytes of that stream, each data
// frame saying at which offset it starts, and the receiver acknowledges an
// offset once everything before it is durably written (fsync). On every
// connection the receiver first says how far the stream has reached it, so
// the sender resumes exactly there: nothing twice, nothing missing.
//
// Both directions start with a hello line and then carry frames; every
// frame starts with a one-line ASCII header (text, so that a session can be
// read with a pager when something looks wrong), data payloads follow the
// header verbatim:
//
//	sender → receiver (ssh stdin)
//	  hello  = "sshlogfwd-push " version " " stream LF
//	  data   = "D " offset " " len LF len*OCTET      ; len 1..MaxData
//	  gap    = "G " offset " " len LF len*OCTET      ; len 0..MaxNotice
//	receiver → sender (ssh stdout)
//	  hello  = "sshlogfwd-receive " version " " (stream / "-") " " offset LF
//	  ack    = "A " offset LF
//	  error  = "E " code " " text LF                ; then the receiver exits
//	version = offset = len = canonical decimal (no sign, no leading zero)
//	stream  = 16 to 64 characters [0-9a-f]
//	code    = "quota" / "nospace" / "io" / "busy" / "version" / "protocol" / "refused"
//
// A data frame carries the stream bytes [offset, offset+len). A gap frame
// says that the stream bytes between the receiver's position and offset no
// longer exist on the sender (its spool bound dropped them); its payload is
// a notice line that the receiver writes in their place. An ack promises
// that every byte before its offset is on the receiver's disk. Offsets are
// at most MaxOffset.
//
// The sender sends its hello at once; the receiver answers with its own
// after reading it (it needs the sender's stream id to lock the file). The
// session then speaks the lower of the two versions; a side that cannot
// speak it says so with an error frame ("version") and ends the session.
// Fields after the stream id of a hello belong to later versions and are
// ignored, so that a newer side can still talk to this one.
package ackproto
