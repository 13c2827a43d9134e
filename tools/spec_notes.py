#!/usr/bin/env python3
"""Regenerate SPEC-NOTES.md from the spec statement tables plus the hand-written
classification below.

    python3 tools/spec_notes.py [--spec-dir /work/shared/spec] [--out SPEC-NOTES.md]

Each data line is `ID<TAB>applies<TAB>summary`. `applies` is one of
client, codec, server, ws, or `n/a: <reason>`. Existing "Enforced by" / "Shown by"
cells for codec and client rows are carried over from the current SPEC-NOTES.md
(matched by version and ID), so filled-in cells survive regeneration.
"""
import argparse
import csv
import os
import re
import sys

V311 = """
MQTT-1.5.3-1	codec	Strings must be well-formed UTF-8 with no surrogates (U+D800-DFFF); receiver closes on ill-formed UTF-8
MQTT-1.5.3-2	codec	Strings must not encode U+0000; a receiver that gets one closes the connection
MQTT-1.5.3-3	codec	The receiver must keep 0xEF 0xBB 0xBF (U+FEFF) as-is, never skip or strip it
MQTT-2.2.2-1	codec	Fixed-header flag bits marked Reserved must carry the exact values listed in Table 2.2
MQTT-2.2.2-2	codec	A receiver that gets invalid fixed-header flags must close the connection
MQTT-2.3.1-1	codec	SUBSCRIBE, UNSUBSCRIBE and QoS>0 PUBLISH must carry a non-zero 16-bit Packet Identifier
MQTT-2.3.1-2	client	Client gives each new SUBSCRIBE/UNSUBSCRIBE/QoS>0 PUBLISH a currently unused Packet Identifier
MQTT-2.3.1-3	client	Client re-sends keep the same Packet Identifier; it is freed only once the final ack is processed
MQTT-2.3.1-4	server	Server sending QoS>0 PUBLISH follows the same Packet Identifier rules
MQTT-2.3.1-5	codec	A QoS 0 PUBLISH must not contain a Packet Identifier
MQTT-2.3.1-6	client	PUBACK, PUBREC and PUBREL carry the Packet Identifier of the PUBLISH they belong to
MQTT-2.3.1-7	server	SUBACK / UNSUBACK carry the Packet Identifier of the SUBSCRIBE / UNSUBSCRIBE they answer
MQTT-3.1.0-1	client	The first packet the Client sends on a new connection must be CONNECT
MQTT-3.1.0-2	server	Server treats a second CONNECT as a protocol violation and disconnects
MQTT-3.1.2-1	server	Server may drop a CONNECT with a wrong protocol name, or handle it under another spec, not this one
MQTT-3.1.2-2	server	Server answers an unsupported Protocol Level with CONNACK 0x01, then disconnects
MQTT-3.1.2-3	codec	The reserved bit (bit 0) of the CONNECT flags must be 0; Server disconnects otherwise
MQTT-3.1.2-4	client	CleanSession=0: Server resumes or creates the Session; Client and Server keep it after disconnect
MQTT-3.1.2-5	server	After a CleanSession=0 disconnect, Server queues matching QoS 1/2 messages in the Session
MQTT-3.1.2-6	client	CleanSession=1: Client and Server drop any old Session; its state is never reused later
MQTT-3.1.2-7	server	Retained messages are not Session state and survive the end of a Session
MQTT-3.1.2-8	server	Will Flag=1: Server stores the Will and publishes it on close unless removed by a DISCONNECT
MQTT-3.1.2-9	codec	Will Flag=1 requires the Will Topic and Will Message fields in the CONNECT payload
MQTT-3.1.2-10	server	Server removes the stored Will once it is published or a DISCONNECT arrives
MQTT-3.1.2-11	codec	Will Flag=0 requires Will QoS=0, Will Retain=0 and no Will Topic / Will Message in the payload
MQTT-3.1.2-12	server	Will Flag=0: no Will Message is published when the connection ends
MQTT-3.1.2-13	codec	Will Flag=0 requires Will QoS=0
MQTT-3.1.2-14	codec	Will QoS must be 0, 1 or 2, never 3
MQTT-3.1.2-15	codec	Will Flag=0 requires Will Retain=0
MQTT-3.1.2-16	server	Will Retain=0: Server publishes the Will as a non-retained message
MQTT-3.1.2-17	server	Will Retain=1: Server publishes the Will as a retained message
MQTT-3.1.2-18	codec	User Name Flag=0: no User Name in the CONNECT payload
MQTT-3.1.2-19	codec	User Name Flag=1: a User Name must be in the CONNECT payload
MQTT-3.1.2-20	codec	Password Flag=0: no Password in the CONNECT payload
MQTT-3.1.2-21	codec	Password Flag=1: a Password must be in the CONNECT payload
MQTT-3.1.2-22	codec	User Name Flag=0 requires Password Flag=0
MQTT-3.1.2-23	client	Client never lets the gap between sent packets exceed Keep Alive; sends PINGREQ if otherwise idle
MQTT-3.1.2-24	server	Server drops a client silent for 1.5x a non-zero Keep Alive
MQTT-3.1.3-1	codec	CONNECT payload order: Client Identifier, Will Topic, Will Message, User Name, Password
MQTT-3.1.3-2	client	Client and Server use the ClientId to identify the Session state they hold
MQTT-3.1.3-3	codec	The ClientId must be present and be the first field of the CONNECT payload
MQTT-3.1.3-4	codec	The ClientId must be a valid MQTT UTF-8 string
MQTT-3.1.3-5	server	Server must accept ClientIds of 1-23 bytes made of [0-9a-zA-Z]
MQTT-3.1.3-6	server	Server accepting a zero-length ClientId must assign a unique one and proceed as if it were sent
MQTT-3.1.3-7	codec	A zero-byte ClientId requires CleanSession=1 in the same CONNECT
MQTT-3.1.3-8	server	Zero-byte ClientId with CleanSession=0: Server answers CONNACK 0x02 and closes
MQTT-3.1.3-9	server	Server rejecting a ClientId answers CONNACK 0x02 (Identifier rejected) and closes
MQTT-3.1.3-10	codec	The Will Topic must be a valid MQTT UTF-8 string
MQTT-3.1.3-11	codec	The User Name must be a valid MQTT UTF-8 string
MQTT-3.1.4-1	codec	CONNECT must conform to section 3.1; Server closes without CONNACK if it does not
MQTT-3.1.4-2	server	Server disconnects an already-connected client that has the same ClientId
MQTT-3.1.4-3	server	Server applies the CleanSession processing of 3.1.2.4
MQTT-3.1.4-4	server	Server acknowledges an accepted CONNECT with CONNACK return code 0
MQTT-3.1.4-5	server	After rejecting a CONNECT, Server ignores any further data from that client
MQTT-3.2.0-1	server	The first packet the Server sends must be CONNACK
MQTT-3.2.2-1	server	Accepting CleanSession=1: Server sets Session Present=0 with return code 0
MQTT-3.2.2-2	server	Accepting CleanSession=0 with stored Session state: Server sets Session Present=1
MQTT-3.2.2-3	server	Accepting CleanSession=0 without stored Session state: Server sets Session Present=0
MQTT-3.2.2-4	server	A CONNACK with a non-zero return code must have Session Present=0
MQTT-3.2.2-5	server	After sending a non-zero CONNACK return code, Server closes the connection
MQTT-3.2.2-6	server	If no CONNACK return code fits, Server closes without sending CONNACK
MQTT-3.3.1-1	client	DUP must be 1 when a Client or Server re-delivers a PUBLISH
MQTT-3.3.1-2	codec	DUP must be 0 on every QoS 0 PUBLISH
MQTT-3.3.1-3	server	Server sets DUP on forwarded PUBLISH only by whether that outgoing packet is a retransmission
MQTT-3.3.1-4	codec	PUBLISH QoS bits must not both be 1; receiver closes the connection if they are
MQTT-3.3.1-5	server	RETAIN=1 from a Client: Server stores the message and its QoS for future subscribers
MQTT-3.3.1-6	server	On a new subscription, the last retained message of each matching topic is sent to the subscriber
MQTT-3.3.1-7	server	QoS 0 with RETAIN=1: Server discards the previously retained message for that topic
MQTT-3.3.1-8	server	Server sets RETAIN=1 on messages sent because a new subscription was made
MQTT-3.3.1-9	server	Server sets RETAIN=0 on messages forwarded to established subscriptions
MQTT-3.3.1-10	server	RETAIN=1 with empty payload: Server forwards it and removes the retained message for the topic
MQTT-3.3.1-11	server	Server never stores a zero-byte retained message
MQTT-3.3.1-12	server	RETAIN=0 from a Client: Server neither stores it nor touches the existing retained message
MQTT-3.3.2-1	codec	Topic Name must be present as the first PUBLISH variable-header field and be valid UTF-8
MQTT-3.3.2-2	codec	The PUBLISH Topic Name must not contain wildcard characters
MQTT-3.3.2-3	server	Topic Name in a PUBLISH sent by the Server must match the subscription's filter (4.7)
MQTT-3.3.4-1	client	The receiver of a PUBLISH answers per Table 3.4 for its QoS (none, PUBACK, PUBREC)
MQTT-3.3.5-1	server	With overlapping subscriptions, Server delivers respecting the maximum QoS of all matches
MQTT-3.3.5-2	server	Server not authorizing a PUBLISH must still ack it normally or close the connection
MQTT-3.6.1-1	codec	PUBREL fixed-header flags must be 0010; any other value is malformed
MQTT-3.8.1-1	codec	SUBSCRIBE fixed-header flags must be 0010; any other value is malformed
MQTT-3.8.3-1	codec	SUBSCRIBE Topic Filters must be valid MQTT UTF-8 strings
MQTT-3.8.3-2	server	Server not supporting wildcard filters must reject subscriptions that use them
MQTT-3.8.3-3	codec	SUBSCRIBE payload must hold at least one Topic Filter / QoS pair
MQTT-3.8.3-4	codec	SUBSCRIBE payload reserved bits must be 0 and requested QoS 0-2, else malformed
MQTT-3.8.4-1	server	Server answers every SUBSCRIBE with a SUBACK
MQTT-3.8.4-2	server	SUBACK carries the same Packet Identifier as the SUBSCRIBE it acknowledges
MQTT-3.8.4-3	server	Identical filter replaces the old subscription; retained msgs re-sent, flow not interrupted
MQTT-3.8.4-4	server	Multi-filter SUBSCRIBE is handled as several SUBSCRIBEs, answered by one SUBACK
MQTT-3.8.4-5	server	SUBACK has one return code per filter: the granted maximum QoS or failure
MQTT-3.8.4-6	server	Delivered QoS is the minimum of the published QoS and the granted maximum QoS
MQTT-3.9.3-1	server	SUBACK return codes are in the same order as the SUBSCRIBE's Topic Filters
MQTT-3.9.3-2	codec	SUBACK return codes are only 0x00, 0x01, 0x02 or 0x80; others are reserved
MQTT-3.10.1-1	codec	UNSUBSCRIBE fixed-header flags must be 0010; any other value is malformed
MQTT-3.10.3-1	codec	UNSUBSCRIBE Topic Filters are valid MQTT UTF-8 strings, packed contiguously
MQTT-3.10.3-2	codec	UNSUBSCRIBE payload must hold at least one Topic Filter
MQTT-3.10.4-1	server	Server compares UNSUBSCRIBE filters character-by-character and deletes exact matches
MQTT-3.10.4-2	server	After deleting a subscription, Server stops queuing new messages for it
MQTT-3.10.4-3	server	After deleting a subscription, Server finishes QoS 1/2 deliveries already started
MQTT-3.10.4-4	server	Server answers UNSUBSCRIBE with an UNSUBACK carrying the same Packet Identifier
MQTT-3.10.4-5	server	Server sends UNSUBACK even if nothing was unsubscribed
MQTT-3.10.4-6	server	Multi-filter UNSUBSCRIBE is handled as several, answered by one UNSUBACK
MQTT-3.12.4-1	server	Server answers each PINGREQ with a PINGRESP
MQTT-3.14.1-1	codec	DISCONNECT fixed-header reserved bits must be 0; Server disconnects otherwise
MQTT-3.14.4-1	client	After sending DISCONNECT the Client closes the network connection
MQTT-3.14.4-2	client	After sending DISCONNECT the Client sends nothing more on that connection
MQTT-3.14.4-3	server	On DISCONNECT, Server discards the Will without publishing it
MQTT-4.1.0-1	client	Client and Server keep Session state for the whole life of the Session
MQTT-4.1.0-2	client	A Session lasts at least as long as its network connection is active
MQTT-4.3.1-1	client	QoS 0 sender sends PUBLISH with QoS=0 and DUP=0
MQTT-4.3.2-1	client	QoS 1 sender: fresh Packet Id, PUBLISH QoS=1 DUP=0, unacknowledged until PUBACK
MQTT-4.3.2-2	client	QoS 1 receiver: PUBACK with the PUBLISH's Packet Id; afterwards same Id means a new message
MQTT-4.3.3-1	client	QoS 2 sender: fresh Id, PUBLISH until PUBREC, then PUBREL until PUBCOMP; no PUBLISH after PUBREL
MQTT-4.3.3-2	client	QoS 2 receiver: PUBREC, re-PUBREC dups without re-delivery, PUBCOMP on PUBREL, then Id is new
MQTT-4.4.0-1	client	Reconnecting with CleanSession=0, both sides re-send unacked PUBLISH/PUBREL with original Ids
MQTT-4.5.0-1	server	Server adds an owned incoming message to the Session of every matching subscriber
MQTT-4.5.0-2	client	Client acknowledges every PUBLISH per its QoS, whether or not the application processes it
MQTT-4.6.0-1	client	Client re-sends PUBLISH packets in their original send order (QoS 1 and 2)
MQTT-4.6.0-2	client	Client sends PUBACKs in the order the QoS 1 PUBLISHes were received
MQTT-4.6.0-3	client	Client sends PUBRECs in the order the QoS 2 PUBLISHes were received
MQTT-4.6.0-4	client	Client sends PUBRELs in the order the PUBRECs were received
MQTT-4.6.0-5	server	Server treats every topic as an Ordered Topic by default
MQTT-4.6.0-6	server	For Ordered Topics, Server forwards per-client, per-topic, per-QoS in arrival order
MQTT-4.7.1-1	codec	Wildcards (+, #) may appear in Topic Filters but never in a Topic Name
MQTT-4.7.1-2	codec	'#' must stand alone or after '/', and be the last character of the filter
MQTT-4.7.1-3	codec	'+' must occupy an entire topic level
MQTT-4.7.2-1	server	Server never matches filters starting with '#' or '+' against topics starting with '$'
MQTT-4.7.3-1	codec	Topic Names and Topic Filters are at least one character long
MQTT-4.7.3-2	codec	Topic Names and Topic Filters must not contain U+0000
MQTT-4.7.3-3	codec	Topic Names and Topic Filters must not exceed 65535 encoded bytes
MQTT-4.7.3-4	server	Server matches topics without normalizing or substituting characters
MQTT-4.8.0-1	client	On a protocol violation, Client or Server closes the connection that carried the packet
MQTT-4.8.0-2	client	On a transient error handling an inbound packet, Client or Server closes that connection
MQTT-6.0.0-1	ws	Send MQTT only in WebSocket binary frames; close on receiving any other data frame type
MQTT-6.0.0-2	ws	Receiver must not assume MQTT packets align with WebSocket frame boundaries
MQTT-6.0.0-3	ws	Client offers "mqtt" in its WebSocket sub-protocol list
MQTT-6.0.0-4	ws	Server selects and returns the WebSocket sub-protocol "mqtt"
MQTT-7.0.0-1	server	A bridging Server (inbound and outbound connections) conforms as both Client and Server
MQTT-7.0.0-2	client	A conformant implementation must not require non-spec extensions to interoperate
MQTT-7.1.1-1	server	Conformant Server supports an ordered, lossless, bidirectional byte-stream transport
MQTT-7.1.2-1	client	Conformant Client supports an ordered, lossless, bidirectional byte-stream transport
"""

V50 = """
MQTT-1.5.4-1	codec	Strings must be well-formed UTF-8 with no surrogate code points (U+D800-DFFF)
MQTT-1.5.4-2	codec	Strings must not encode U+0000
MQTT-1.5.4-3	codec	The receiver must keep 0xEF 0xBB 0xBF (U+FEFF) as-is, never skip or strip it
MQTT-1.5.5-1	codec	Variable Byte Integers must use the minimum number of bytes
MQTT-1.5.7-1	codec	Both strings of a UTF-8 String Pair must be valid MQTT UTF-8 strings
MQTT-2.1.3-1	codec	Fixed-header flag bits marked Reserved must carry the listed values
MQTT-2.2.1-2	codec	A QoS 0 PUBLISH must not contain a Packet Identifier
MQTT-2.2.1-3	client	Client gives each new SUBSCRIBE/UNSUBSCRIBE/QoS>0 PUBLISH a non-zero, currently unused Packet Id
MQTT-2.2.1-4	server	Server gives each new QoS>0 PUBLISH a non-zero, currently unused Packet Identifier
MQTT-2.2.1-5	client	PUBACK, PUBREC, PUBREL and PUBCOMP carry the Packet Identifier of the original PUBLISH
MQTT-2.2.1-6	server	SUBACK / UNSUBACK carry the Packet Identifier of the SUBSCRIBE / UNSUBSCRIBE they answer
MQTT-2.2.2-1	codec	No properties is encoded as a Property Length of 0 (the field is never omitted)
MQTT-3.1.0-1	client	The first packet the Client sends on a new connection must be CONNECT
MQTT-3.1.0-2	server	Server treats a second CONNECT as a Protocol Error and closes the connection
MQTT-3.1.2-1	codec	CONNECT protocol name must be the string "MQTT" (Server may answer 0x84 and then closes)
MQTT-3.1.2-2	server	Server refusing a Protocol Version other than 5 may send CONNACK 0x84, then closes
MQTT-3.1.2-3	codec	The reserved bit (bit 0) of the CONNECT flags must be 0
MQTT-3.1.2-4	client	Clean Start=1: Client and Server discard any existing Session and start a new one
MQTT-3.1.2-5	server	Clean Start=0 with an existing Session: Server resumes from that Session's state
MQTT-3.1.2-6	server	Clean Start=0 without an existing Session: Server creates a new Session
MQTT-3.1.2-7	server	Will Flag=1: Server stores the Will Message with the Session
MQTT-3.1.2-8	server	Server publishes the Will after close + Will Delay or Session end, unless cancelled
MQTT-3.1.2-9	codec	Will Flag=1 requires Will Properties, Will Topic and Will Payload in the CONNECT payload
MQTT-3.1.2-10	server	Server removes the stored Will once published or on DISCONNECT with reason 0x00
MQTT-3.1.2-11	codec	Will Flag=0 requires Will QoS=0
MQTT-3.1.2-12	codec	Will Flag=1 allows Will QoS 0, 1 or 2 only (3 is invalid)
MQTT-3.1.2-13	codec	Will Flag=0 requires Will Retain=0
MQTT-3.1.2-14	server	Will Retain=0: Server publishes the Will as a non-retained message
MQTT-3.1.2-15	server	Will Retain=1: Server publishes the Will as a retained message
MQTT-3.1.2-16	codec	User Name Flag=0: no User Name in the CONNECT payload
MQTT-3.1.2-17	codec	User Name Flag=1: a User Name must be in the CONNECT payload
MQTT-3.1.2-18	codec	Password Flag=0: no Password in the CONNECT payload
MQTT-3.1.2-19	codec	Password Flag=1: a Password must be in the CONNECT payload
MQTT-3.1.2-20	client	Keep Alive non-zero and nothing else to send: Client sends PINGREQ
MQTT-3.1.2-21	client	If CONNACK has Server Keep Alive, Client uses it instead of the Keep Alive it sent
MQTT-3.1.2-22	server	Server closes a connection silent for 1.5x a non-zero Keep Alive
MQTT-3.1.2-23	client	Client and Server keep Session State after close when Session Expiry Interval > 0
MQTT-3.1.2-24	server	Server never sends packets larger than the Client's Maximum Packet Size
MQTT-3.1.2-25	server	Server drops a too-large packet unsent and behaves as if it had been delivered
MQTT-3.1.2-26	server	Server never sends a Topic Alias above the Client's Topic Alias Maximum
MQTT-3.1.2-27	server	Client's Topic Alias Maximum absent or 0: Server sends no Topic Aliases
MQTT-3.1.2-28	server	Request Response Information=0: Server returns no Response Information
MQTT-3.1.2-29	server	Request Problem Information=0: Reason String/User Props only on PUBLISH, CONNACK, DISCONNECT
MQTT-3.1.2-30	client	With an Authentication Method set, Client sends only AUTH or DISCONNECT until CONNACK
MQTT-3.1.3-1	codec	CONNECT payload order: ClientID, Will Properties, Will Topic, Will Payload, User Name, Password
MQTT-3.1.3-2	client	Client and Server use the ClientID to identify the Session state they hold
MQTT-3.1.3-3	codec	The ClientID must be present and be the first field of the CONNECT payload
MQTT-3.1.3-4	codec	The ClientID must be a valid MQTT UTF-8 string
MQTT-3.1.3-5	server	Server must accept ClientIDs of 1-23 bytes made of [0-9a-zA-Z]
MQTT-3.1.3-6	server	Server accepting a zero-length ClientID must assign it a unique ClientID
MQTT-3.1.3-7	server	Server then treats the CONNECT as carrying that ID and returns it as Assigned Client Identifier
MQTT-3.1.3-8	server	Server rejecting a ClientID may send CONNACK 0x85, and then closes the connection
MQTT-3.1.3-9	server	Server does not send the Will if the Session reconnects before the Will Delay Interval ends
MQTT-3.1.3-10	server	Server keeps the order of the Will's User Properties when publishing it
MQTT-3.1.3-11	codec	The Will Topic must be a valid MQTT UTF-8 string
MQTT-3.1.3-12	codec	The User Name, when flagged, is the next payload field and a valid MQTT UTF-8 string
MQTT-3.1.4-1	codec	CONNECT must match the format of section 3.1; Server closes the connection if not
MQTT-3.1.4-2	server	Server closes the connection if its further CONNECT checks or auth checks fail
MQTT-3.1.4-3	server	Server takes over a ClientID already connected: DISCONNECT 0x8E to and close the old one
MQTT-3.1.4-4	server	Server applies the Clean Start processing of 3.1.2.4
MQTT-3.1.4-5	server	Server acknowledges an accepted CONNECT with CONNACK reason 0x00 (Success)
MQTT-3.1.4-6	server	After rejecting a CONNECT, Server ignores further data from the client except AUTH
MQTT-3.2.0-1	server	Server sends a Success CONNACK before any packet other than AUTH
MQTT-3.2.0-2	server	Server sends at most one CONNACK per network connection
MQTT-3.2.2-1	codec	CONNACK Acknowledge Flags bits 7-1 are reserved and must be 0
MQTT-3.2.2-2	server	Accepting Clean Start=1: Server sets Session Present=0 and reason 0x00
MQTT-3.2.2-3	server	Accepting Clean Start=0: Session Present=1 iff Server has state for the ClientID; reason 0x00
MQTT-3.2.2-4	client	Client without Session State that receives Session Present=1 closes the connection
MQTT-3.2.2-5	client	Client with Session State that receives Session Present=0 discards it if it stays connected
MQTT-3.2.2-6	server	A CONNACK with a non-zero Reason Code must have Session Present=0
MQTT-3.2.2-7	server	After sending a CONNACK with reason >= 0x80, Server closes the connection
MQTT-3.2.2-8	codec	CONNACK Reason Code must be one of the defined Connect Reason Codes
MQTT-3.2.2-9	server	Server lacking QoS 1 or 2 support advertises its highest QoS as Maximum QoS in CONNACK
MQTT-3.2.2-10	server	Server with limited Maximum QoS still accepts SUBSCRIBE requesting QoS 0, 1 or 2
MQTT-3.2.2-11	client	Client never publishes above the Maximum QoS the Server announced
MQTT-3.2.2-12	server	Server rejects a CONNECT whose Will QoS it cannot support (0x9B) and closes
MQTT-3.2.2-13	server	Server without retain support rejects a Will with Will Retain=1 (0x9A) and closes
MQTT-3.2.2-14	client	After Retain Available=0, Client never sends PUBLISH with RETAIN=1
MQTT-3.2.2-15	client	Client never sends packets larger than the Server's Maximum Packet Size
MQTT-3.2.2-16	server	Zero-length ClientID: CONNACK carries a new, unused Assigned Client Identifier
MQTT-3.2.2-17	client	Client never sends a Topic Alias above the Server's Topic Alias Maximum
MQTT-3.2.2-18	client	Server's Topic Alias Maximum absent or 0: Client sends no Topic Aliases
MQTT-3.2.2-19	server	Server omits the CONNACK Reason String if it would exceed the Client's Maximum Packet Size
MQTT-3.2.2-20	server	Server omits CONNACK User Properties if they would exceed the Client's Maximum Packet Size
MQTT-3.2.2-21	client	Client uses the CONNACK Server Keep Alive instead of the Keep Alive it sent
MQTT-3.2.2-22	server	Without Server Keep Alive, Server uses the Keep Alive from the CONNECT
MQTT-3.3.1-1	client	DUP must be 1 when a Client or Server re-delivers a PUBLISH
MQTT-3.3.1-2	codec	DUP must be 0 on every QoS 0 PUBLISH
MQTT-3.3.1-3	server	Server sets DUP on forwarded PUBLISH only by whether that outgoing packet is a retransmission
MQTT-3.3.1-4	codec	PUBLISH QoS bits must not both be 1
MQTT-3.3.1-5	server	RETAIN=1 from a Client: Server replaces the topic's retained message with this one
MQTT-3.3.1-6	server	Retained PUBLISH with empty payload: Server forwards it and removes the retained message
MQTT-3.3.1-7	server	Server never stores a zero-byte retained message
MQTT-3.3.1-8	server	RETAIN=0 from a Client: Server neither stores it nor touches the existing retained message
MQTT-3.3.1-9	server	Retain Handling 0: Server sends matching retained messages on subscribe
MQTT-3.3.1-10	server	Retain Handling 1: Server sends retained messages only if the subscription is new
MQTT-3.3.1-11	server	Retain Handling 2: Server sends no retained messages on subscribe
MQTT-3.3.1-12	server	Retain As Published=0: Server forwards with RETAIN=0
MQTT-3.3.1-13	server	Retain As Published=1: Server forwards with the RETAIN flag it received
MQTT-3.3.2-1	codec	Topic Name must be present as the first PUBLISH variable-header field and be valid UTF-8
MQTT-3.3.2-2	codec	The PUBLISH Topic Name must not contain wildcard characters
MQTT-3.3.2-3	server	Topic Name in a PUBLISH sent by the Server must match the subscription's filter (4.7)
MQTT-3.3.2-4	server	Server forwards the Payload Format Indicator unaltered to all subscribers
MQTT-3.3.2-5	server	Server deletes a subscriber's copy whose Message Expiry passed before delivery started
MQTT-3.3.2-6	server	Forwarded Message Expiry Interval = received value minus the time held by the Server
MQTT-3.3.2-7	client	A receiver never carries Topic Alias mappings over from one connection to another
MQTT-3.3.2-8	codec	A PUBLISH must not carry Topic Alias 0
MQTT-3.3.2-9	client	Client never sends a Topic Alias above the Topic Alias Maximum from CONNACK
MQTT-3.3.2-10	client	Client accepts every Topic Alias in 1..=the Topic Alias Maximum it sent in CONNECT
MQTT-3.3.2-11	server	Server never sends a Topic Alias above the Topic Alias Maximum from CONNECT
MQTT-3.3.2-12	server	Server accepts every Topic Alias in 1..=the Topic Alias Maximum it sent in CONNACK
MQTT-3.3.2-13	codec	The Response Topic must be a valid MQTT UTF-8 string
MQTT-3.3.2-14	codec	The Response Topic must not contain wildcard characters
MQTT-3.3.2-15	server	Server forwards the Response Topic unaltered to all subscribers
MQTT-3.3.2-16	server	Server forwards the Correlation Data unaltered to all subscribers
MQTT-3.3.2-17	server	Server forwards all User Properties of a PUBLISH unaltered
MQTT-3.3.2-18	server	Server keeps the order of User Properties when forwarding
MQTT-3.3.2-19	codec	The Content Type must be a valid MQTT UTF-8 string
MQTT-3.3.2-20	server	Server forwards the Content Type unaltered to all subscribers
MQTT-3.3.4-1	client	The receiver of a PUBLISH answers with the packet its QoS demands (none, PUBACK, PUBREC)
MQTT-3.3.4-2	server	With overlapping subscriptions, Server delivers respecting the maximum QoS of all matches
MQTT-3.3.4-3	server	Server includes the Subscription Identifiers of overlapping subscriptions in the PUBLISH
MQTT-3.3.4-4	server	A single forwarded copy carries the Subscription Identifiers of all matching subscriptions
MQTT-3.3.4-5	server	With one PUBLISH per match, each carries that subscription's Subscription Identifier
MQTT-3.3.4-6	codec	A Client-to-Server PUBLISH must not contain a Subscription Identifier property
MQTT-3.3.4-7	client	Client keeps at most Receive Maximum QoS 1/2 PUBLISHes unacknowledged in flight
MQTT-3.3.4-8	client	Client never holds back non-PUBLISH packets because the Receive Maximum is reached
MQTT-3.3.4-9	server	Server keeps at most the Client's Receive Maximum QoS 1/2 PUBLISHes unacknowledged
MQTT-3.3.4-10	server	Server never holds back non-PUBLISH packets because the Receive Maximum is reached
MQTT-3.4.2-1	codec	PUBACK Reason Code must be one of the defined PUBACK Reason Codes
MQTT-3.4.2-2	client	PUBACK sender omits the Reason String if it would exceed the peer's Maximum Packet Size
MQTT-3.4.2-3	client	PUBACK sender omits User Properties if they would exceed the peer's Maximum Packet Size
MQTT-3.5.2-1	codec	PUBREC Reason Code must be one of the defined PUBREC Reason Codes
MQTT-3.5.2-2	client	PUBREC sender omits the Reason String if it would exceed the peer's Maximum Packet Size
MQTT-3.5.2-3	client	PUBREC sender omits User Properties if they would exceed the peer's Maximum Packet Size
MQTT-3.6.1-1	codec	PUBREL fixed-header flags must be 0010; any other value is malformed
MQTT-3.6.2-1	codec	PUBREL Reason Code must be one of the defined PUBREL Reason Codes
MQTT-3.6.2-2	client	PUBREL sender omits the Reason String if it would exceed the peer's Maximum Packet Size
MQTT-3.6.2-3	client	PUBREL sender omits User Properties if they would exceed the peer's Maximum Packet Size
MQTT-3.7.2-1	codec	PUBCOMP Reason Code must be one of the defined PUBCOMP Reason Codes
MQTT-3.7.2-2	client	PUBCOMP sender omits the Reason String if it would exceed the peer's Maximum Packet Size
MQTT-3.7.2-3	client	PUBCOMP sender omits User Properties if they would exceed the peer's Maximum Packet Size
MQTT-3.8.1-1	codec	SUBSCRIBE fixed-header flags must be 0010; any other value is malformed
MQTT-3.8.3-1	codec	SUBSCRIBE Topic Filters must be valid MQTT UTF-8 strings
MQTT-3.8.3-2	codec	SUBSCRIBE payload must hold at least one Topic Filter / Subscription Options pair
MQTT-3.8.3-3	server	No Local=1: Server never forwards a message to the connection of the ClientID that sent it
MQTT-3.8.3-4	codec	No Local=1 on a Shared Subscription ($share/...) is a Protocol Error
MQTT-3.8.3-5	codec	Subscription Options reserved bits must be 0, else the SUBSCRIBE is malformed
MQTT-3.8.4-1	server	Server answers every SUBSCRIBE with a SUBACK
MQTT-3.8.4-2	server	SUBACK carries the same Packet Identifier as the SUBSCRIBE it acknowledges
MQTT-3.8.4-3	server	Identical non-shared filter in the same Session replaces the existing subscription
MQTT-3.8.4-4	server	On replacement with Retain Handling 0, retained msgs are re-sent and no messages are lost
MQTT-3.8.4-5	server	Multi-filter SUBSCRIBE is handled as several SUBSCRIBEs, answered by one SUBACK
MQTT-3.8.4-6	server	SUBACK has one Reason Code per Topic Filter / Subscription Options pair
MQTT-3.8.4-7	server	Each SUBACK Reason Code is the granted maximum QoS or a failure code
MQTT-3.8.4-8	server	Delivered QoS is the minimum of the published QoS and the granted maximum QoS
MQTT-3.9.2-1	server	Server omits the SUBACK Reason String if it would exceed the Client's Maximum Packet Size
MQTT-3.9.2-2	server	Server omits SUBACK User Properties if they would exceed the Client's Maximum Packet Size
MQTT-3.9.3-1	server	SUBACK Reason Codes are in the same order as the SUBSCRIBE's Topic Filters
MQTT-3.9.3-2	codec	Each SUBACK Reason Code must be one of the defined Subscribe Reason Codes
MQTT-3.10.1-1	codec	UNSUBSCRIBE fixed-header flags must be 0010; any other value is malformed
MQTT-3.10.3-1	codec	UNSUBSCRIBE Topic Filters are valid MQTT UTF-8 strings, packed contiguously
MQTT-3.10.3-2	codec	UNSUBSCRIBE payload must hold at least one Topic Filter
MQTT-3.10.4-1	server	Server compares UNSUBSCRIBE filters character-by-character and deletes exact matches
MQTT-3.10.4-2	server	On UNSUBSCRIBE, Server stops queuing new messages matching the filters
MQTT-3.10.4-3	server	On UNSUBSCRIBE, Server finishes QoS 1/2 deliveries for those filters already started
MQTT-3.10.4-4	server	Server answers every UNSUBSCRIBE with an UNSUBACK
MQTT-3.10.4-5	server	UNSUBACK carries the UNSUBSCRIBE's Packet Identifier, even if nothing was deleted
MQTT-3.10.4-6	server	Multi-filter UNSUBSCRIBE is handled as several, answered by one UNSUBACK
MQTT-3.11.2-1	server	Server omits the UNSUBACK Reason String if it would exceed the Client's Maximum Packet Size
MQTT-3.11.2-2	server	Server omits UNSUBACK User Properties if they would exceed the Client's Maximum Packet Size
MQTT-3.11.3-1	server	UNSUBACK Reason Codes are in the same order as the UNSUBSCRIBE's Topic Filters
MQTT-3.11.3-2	codec	Each UNSUBACK Reason Code must be one of the defined Unsubscribe Reason Codes
MQTT-3.12.4-1	server	Server answers each PINGREQ with a PINGRESP
MQTT-3.14.0-1	server	Server sends DISCONNECT only after it has sent a CONNACK with reason < 0x80
MQTT-3.14.1-1	codec	DISCONNECT fixed-header reserved bits must be 0; otherwise treat as Malformed Packet (0x81)
MQTT-3.14.2-1	codec	DISCONNECT Reason Code must be one of the defined Disconnect Reason Codes
MQTT-3.14.2-2	codec	A DISCONNECT sent by the Server must not carry Session Expiry Interval
MQTT-3.14.2-3	client	DISCONNECT sender omits the Reason String if it would exceed the peer's Maximum Packet Size
MQTT-3.14.2-4	client	DISCONNECT sender omits User Properties if they would exceed the peer's Maximum Packet Size
MQTT-3.14.4-1	client	After sending DISCONNECT the sender sends nothing more on that connection
MQTT-3.14.4-2	client	After sending DISCONNECT the sender closes the network connection
MQTT-3.14.4-3	server	On DISCONNECT with reason 0x00, Server discards the Will without publishing it
MQTT-3.15.1-1	codec	AUTH fixed-header flags must be 0000; any other value is malformed
MQTT-3.15.2-1	codec	AUTH Reason Code must be one of the defined Authenticate Reason Codes
MQTT-3.15.2-2	client	AUTH sender omits the Reason String if it would exceed the peer's Maximum Packet Size
MQTT-3.15.2-3	client	AUTH sender omits User Properties if they would exceed the peer's Maximum Packet Size
MQTT-4.1.0-1	client	Client and Server never discard Session State while the connection is open
MQTT-4.1.0-2	server	Server discards Session State once closed and the Session Expiry Interval has passed
MQTT-4.2.0-1	client	Client and Server support an ordered, lossless, bidirectional byte-stream transport
MQTT-4.3.1-1	client	QoS 0 sender sends PUBLISH with QoS 0 and DUP=0
MQTT-4.3.2-1	client	QoS 1 sender assigns an unused Packet Identifier to each new message
MQTT-4.3.2-2	client	QoS 1 sender sends PUBLISH with that Packet Identifier, QoS 1 and DUP=0
MQTT-4.3.2-3	client	QoS 1 sender keeps the PUBLISH unacknowledged until the matching PUBACK arrives
MQTT-4.3.2-4	client	QoS 1 receiver answers with a PUBACK carrying the PUBLISH's Packet Identifier
MQTT-4.3.2-5	client	After sending PUBACK, the receiver treats a PUBLISH with the same Id as a new message
MQTT-4.3.3-1	client	QoS 2 sender assigns an unused Packet Identifier to each new message
MQTT-4.3.3-2	client	QoS 2 sender sends PUBLISH with that Packet Identifier, QoS 2 and DUP=0
MQTT-4.3.3-3	client	QoS 2 sender keeps the PUBLISH unacknowledged until the matching PUBREC arrives
MQTT-4.3.3-4	client	QoS 2 sender answers a PUBREC with reason < 0x80 by a PUBREL with the same Packet Id
MQTT-4.3.3-5	client	QoS 2 sender keeps the PUBREL unacknowledged until the matching PUBCOMP arrives
MQTT-4.3.3-6	client	QoS 2 sender never re-sends the PUBLISH after sending its PUBREL
MQTT-4.3.3-7	client	QoS 2 sender does not apply message expiry once the PUBLISH has been sent
MQTT-4.3.3-8	client	QoS 2 receiver answers with a PUBREC carrying the PUBLISH's Packet Identifier
MQTT-4.3.3-9	client	After a PUBREC with reason >= 0x80, the receiver treats that Packet Id's next PUBLISH as new
MQTT-4.3.3-10	client	Until PUBREL, receiver re-PUBRECs a PUBLISH with the same Id and never delivers it twice
MQTT-4.3.3-11	client	QoS 2 receiver answers a PUBREL with a PUBCOMP carrying the same Packet Identifier
MQTT-4.3.3-12	client	After sending PUBCOMP, the receiver treats a PUBLISH with that Id as a new message
MQTT-4.3.3-13	client	QoS 2 receiver completes the acknowledgement sequence even if it expired the message
MQTT-4.4.0-1	client	Reconnect with Clean Start=0 and a Session: re-send unacked PUBLISH/PUBREL; never resend otherwise
MQTT-4.4.0-2	client	A PUBLISH answered by PUBACK/PUBREC with reason >= 0x80 is acknowledged; never retransmit it
MQTT-4.5.0-1	server	Server adds an owned incoming message to the Session State of every matching subscriber
MQTT-4.5.0-2	client	Client acknowledges every PUBLISH per its QoS, whether or not the application processes it
MQTT-4.6.0-1	client	Client re-sends PUBLISH packets in their original send order (QoS 1 and 2)
MQTT-4.6.0-2	client	Client sends PUBACKs in the order the QoS 1 PUBLISHes were received
MQTT-4.6.0-3	client	Client sends PUBRECs in the order the QoS 2 PUBLISHes were received
MQTT-4.6.0-4	client	Client sends PUBRELs in the order the PUBRECs were received
MQTT-4.6.0-5	server	For Ordered Topics, Server forwards per-client, per-topic, per-QoS in arrival order
MQTT-4.6.0-6	server	Server treats every topic as Ordered by default for non-shared subscriptions
MQTT-4.7.0-1	codec	Wildcards (+, #) may appear in Topic Filters but never in a Topic Name
MQTT-4.7.1-1	codec	'#' must stand alone or after '/', and be the last character of the filter
MQTT-4.7.1-2	codec	'+' must occupy an entire topic level
MQTT-4.7.2-1	server	Server never matches filters starting with '#' or '+' against topics starting with '$'
MQTT-4.7.3-1	codec	Topic Names and Topic Filters are at least one character long
MQTT-4.7.3-2	codec	Topic Names and Topic Filters must not contain U+0000
MQTT-4.7.3-3	codec	Topic Names and Topic Filters must not exceed 65,535 encoded bytes
MQTT-4.7.3-4	server	Server matches topics without normalizing or substituting characters
MQTT-4.8.2-1	codec	A Shared Subscription filter starts with $share/ and has a ShareName of at least one character
MQTT-4.8.2-2	codec	ShareName has no '/', '+' or '#', and is followed by '/' and a valid Topic Filter
MQTT-4.8.2-3	server	Server respects the granted QoS when delivering on a Shared Subscription
MQTT-4.8.2-4	server	Server completes an interrupted shared QoS 2 delivery to the same Client when it reconnects
MQTT-4.8.2-5	server	If that Client's Session ends first, Server does not send the message to another subscriber
MQTT-4.8.2-6	server	Client PUBACK/PUBREC >= 0x80 on a shared message: Server discards it, no other subscriber
MQTT-4.9.0-1	client	Client and Server start with a non-zero send quota no larger than the peer's Receive Maximum
MQTT-4.9.0-2	client	Each QoS>0 PUBLISH spends send quota; at zero, send no more QoS>0 PUBLISHes
MQTT-4.9.0-3	client	Client and Server keep processing and answering other packets while the quota is zero
MQTT-4.12.0-1	server	Server not supporting the Authentication Method may send 0x8C or 0x87, and closes
MQTT-4.12.0-2	server	A Server AUTH asking for more authentication data carries reason 0x18 (Continue)
MQTT-4.12.0-3	client	Client answers a Server AUTH with an AUTH carrying reason 0x18 (Continue authentication)
MQTT-4.12.0-4	server	Server may reject authentication at any point (CONNACK >= 0x80) and closes
MQTT-4.12.0-5	client	All AUTH packets and a successful CONNACK repeat the Authentication Method from CONNECT
MQTT-4.12.0-6	server	No Authentication Method in CONNECT: Server sends no AUTH and no Authentication Method
MQTT-4.12.0-7	client	No Authentication Method in CONNECT: Client never sends AUTH
MQTT-4.12.1-1	client	Re-authentication AUTH (0x19) uses the Authentication Method of the original authentication
MQTT-4.12.1-2	client	If re-authentication fails, Client or Server (should DISCONNECT and) closes the connection
MQTT-4.13.1-1	server	Server detecting a Malformed Packet or Protocol Error with a given Reason Code closes
MQTT-4.13.2-1	client	Once a Reason Code >= 0x80 is chosen for CONNACK or DISCONNECT, the connection is closed
MQTT-6.0.0-1	ws	Send MQTT only in WebSocket binary frames; close on receiving any other data frame type
MQTT-6.0.0-2	ws	Receiver must not assume MQTT packets align with WebSocket frame boundaries
MQTT-6.0.0-3	ws	Client offers "mqtt" in its WebSocket sub-protocol list
MQTT-6.0.0-4	ws	Server selects and returns the WebSocket subprotocol "mqtt"
"""

CHAPTERS = {
    "1": "1 Introduction (data representation)",
    "2": "2 MQTT Control Packet format",
    "6": "6 Using WebSocket as a network transport",
    "7": "7 Conformance",
}
SUB_311 = {
    "3.1": "CONNECT", "3.2": "CONNACK", "3.3": "PUBLISH", "3.4": "PUBACK",
    "3.5": "PUBREC", "3.6": "PUBREL", "3.7": "PUBCOMP", "3.8": "SUBSCRIBE",
    "3.9": "SUBACK", "3.10": "UNSUBSCRIBE", "3.11": "UNSUBACK", "3.12": "PINGREQ",
    "3.13": "PINGRESP", "3.14": "DISCONNECT", "3.15": "AUTH",
    "4.1": "Session state", "4.2": "Network Connections",
    "4.3": "Quality of Service levels and protocol flows", "4.4": "Message delivery retry",
    "4.5": "Message receipt", "4.6": "Message ordering", "4.7": "Topic Names and Topic Filters",
    "4.8": "Handling errors", "4.9": "Flow Control", "4.12": "Enhanced authentication",
    "4.13": "Handling errors",
}
SUB_50_OVERRIDE = {"4.8": "Subscriptions (Shared Subscriptions)"}
SUB_311_OVERRIDE = {"4.1": "Storing state"}

DASH = "\u2014"
INTRO = """# SPEC-NOTES: normative statements of MQTT 3.1.1 and MQTT 5.0

This file lists **every** normative statement of the two MQTT specifications that
tern-mqtt implements (one row per tagged statement: {n311} for 3.1.1, {n50} for 5.0),
says whether it concerns this client library, and where tern-mqtt enforces it and which
test shows it. The statement texts come from
`/work/shared/spec/mqtt-3.1.1-normative.tsv` and `mqtt-5.0-normative.tsv`; the full
specs are `mqtt-v3.1.1.md` and `mqtt-v5.0.md` in the same folder. The table is generated
by `tools/spec_notes.py` (classification and summaries are kept in that script; re-running it
keeps any "Enforced by" / "Shown by" cells already filled in here).

## Deliberate choices

Places where the client deviates from the letter of a statement, or chooses among the options
the spec leaves open:

1. **Session Present after a clean start.** A CONNACK with Session Present 1 that answers a
   CONNECT with Clean Start (Clean Session) 1 is a protocol error, in both versions. A CONNACK
   with Session Present 1 when we sent Clean Start 0 but hold no session state (a new process)
   is accepted: applications that restart with a persistent session expect it to be resumed.
   5.0 [MQTT-3.2.2-4] says a Client without session state that receives Session Present 1 MUST
   close the connection; we close only after Clean Start 1 (`Session::on_connack`).
2. **Non-minimal Variable Byte Integers are rejected in 3.1.1 too.** [MQTT-1.5.5-1] is a 5.0
   statement; 3.1.1 states no such rule, but no conforming 3.1.1 sender produces them
   (`codec::primitives::read_vbi`, both versions).
3. **`$share/` filter syntax is validated in 3.1.1 too.** [MQTT-4.8.2-1] and [MQTT-4.8.2-2]
   are 5.0 statements; a 3.1.1 filter that starts with `$share/` must have the
   `$share/{{ShareName}}/{{filter}}` form as well (`TopicFilter::from_mqtt_string`).
4. **When the server lost the session** (Session Present 0 while we hold publishes in flight),
   those publishes are re-sent as new messages (new packet ids, DUP 0) by default
   (`SessionLostPolicy::Resend`: QoS 1 stays at-least-once; a QoS 2 message whose PUBREC had
   not arrived may arrive twice), or failed with `CommandError::SessionLost` / `SessionExpired`
   under `SessionLostPolicy::Fail` (`Session::session_not_present`, `Session::end_connection`).
   A QoS 2 message whose PUBREC (success) arrived is never sent again, under either policy: it
   completes `Ok` with `PublishAcked::pubcomp_lost` (`Session::settle_lost_pubcomps`). The
   subscriptions the server lost are subscribed again by the session, ahead of anything queued
   (`SessionConfig::restore_subscriptions`, `Session::restore_subscriptions`).
5. **Oversized PUBLISH packets from the server are skipped, not fatal.** 5.0 (3.1.2.11.4, 4.13)
   makes a packet over our Maximum Packet Size a Protocol Error answered with DISCONNECT 0x95
   [MQTT-3.1.2-24]; a 3.1.1 server never learns our maximum and sends the message again after
   every reconnect. An oversized PUBLISH is read up to its topic and packet id, the rest is
   dropped as it arrives, and it is acknowledged (`Event::MessageDiscarded`): always in 3.1.1,
   and in 5.0 only after a connection on which we already sent DISCONNECT 0x95 for one
   (`Session::start_skip`). Any other oversized packet still ends the connection.
6. **A 3.1.1 CONNACK refusing our 5.0 CONNECT** (`20 02 00 01`, what a 3.1.1-only server sends
   by 3.1.1 [MQTT-3.1.2-2]) is not a valid 5.0 packet; it is taken as a refusal with 0x84
   Unsupported Protocol Version rather than a malformed packet (`Session::v311_connack_refusal`).
7. **A publish the server keeps closing the connection on** (the only way a 3.1.1 server can
   refuse one) fails with `CommandError::RejectedByServer` after
   `SessionConfig::max_publish_strikes` connections in a row (default 3), instead of being
   re-sent forever (`Session::count_strike`).

## Statements without an ID

Rules the spec states in its text without a statement tag; the codec cites them by section.

| Section | Summary | Applies | Enforced by | Shown by |
|---|---|---|---|---|
| 5.0 3.1.2.11.10 | Authentication Data in CONNECT without an Authentication Method is a Protocol Error | codec | `codec::connect::read_connect` (error `MQTT-3.1.2.11.10`); `Connect::check`, run by `Connect::write`, refuses to encode it | codec_malformed.rs case MQTT-3.1.2.11.10; tests/codec_vectors.rs::encode_refusals_cite_their_statement case "5.0 CONNECT with Authentication Data and no Authentication Method" |

## Reading the tables

Columns:

- **ID**: the statement's tag, exactly as in the spec (`MQTT-x.y.z-n`). The same ID can mean
  different things in 3.1.1 and 5.0, so always read it with its version section.
- **Summary**: what the statement demands, in our own words (see the spec for the exact text).
- **Applies**: who the statement binds, from tern-mqtt's point of view (vocabulary below).
- **Enforced by**: the code (module / type / function) that makes tern-mqtt obey it.
- **Shown by**: the test (unit, property, or interop) that demonstrates it.

"Applies" vocabulary:

- `codec`: a packet-format rule the decoder rejects and the encoder never produces: reserved
  flags, field presence and order, lengths, UTF-8 rules, topic syntax, property placement,
  reason-code validity, non-zero packet ids, and so on. Counted here even when the spec words it
  as "the Server MUST validate ...", because for us the encoder guarantees it and the decoder
  checks it on packets from the server.
- `client`: binds the Client, or binds any sender/receiver (which includes the Client): session,
  keep-alive, QoS flows, flow control, limits announced by the server, closing on errors.
- `server`: binds only a Server. Not our job; "Enforced by" and "Shown by" are `{d}`.
- `ws`: WebSocket transport (chapter 6). There is no WebSocket transport yet.
- `n/a`: does not concern tern-mqtt; the reason is given in the row.

Cells of `codec` and `client` rows:

- "Enforced by" names functions as `module::function` or `Type::method` (`Session::…` is the
  sans-IO engine in `src/session/`, `Driver::…` the tokio client in `src/client/driver.rs`).
  "by construction" means the types or the code paths make a violation impossible (packet ids
  are `NonZeroU16`, a `TopicName` holds no wildcard, the encoder writes reserved flags from
  Table 2-2, and so on) rather than an explicit check.
- "Shown by" names a test as `tests/file.rs::test_fn`, a unit test in `src/`, or
  `codec_malformed.rs case X`: a row of the table in `cases()` of `tests/codec_malformed.rs`
  (run by `malformed_and_forbidden_packets_are_refused`), named by the statement ID it reports
  or by its description in quotes.
- `not enforced: <reason>` marks a statement tern-mqtt does not obey yet; `no test yet` marks
  an enforced statement that no test demonstrates; `TODO` marks a row not filled in yet.
""".replace("{d}", DASH)


def parse(block):
    out = {}
    for line in block.strip("\n").splitlines():
        if not line.strip():
            continue
        ident, applies, summary = line.split("\t")
        if ident in out:
            sys.exit(f"duplicate classification for {ident}")
        if len(summary) > 110:
            sys.exit(f"summary too long ({len(summary)}) for {ident}")
        if not (applies in ("client", "codec", "server", "ws") or applies.startswith("n/a: ")):
            sys.exit(f"bad applies {applies!r} for {ident}")
        out[ident] = (applies, summary.replace("|", "\\|"))
    return out


def read_tsv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def subsection_key(section):
    parts = section.split(".")
    if parts[0] in ("3", "4"):
        return ".".join(parts[:2])
    return parts[0]


def subsection_title(key, version):
    if key in CHAPTERS:
        return CHAPTERS[key]
    if version == "5.0" and key in SUB_50_OVERRIDE:
        return f"{key} {SUB_50_OVERRIDE[key]}"
    if version == "3.1.1" and key in SUB_311_OVERRIDE:
        return f"{key} {SUB_311_OVERRIDE[key]}"
    return f"{key} {SUB_311[key]}"


def sort_key(key):
    return [int(p) for p in key.split(".")]


def existing_cells(path):
    """(version, id) -> (enforced, shown) from a previous SPEC-NOTES.md."""
    cells = {}
    if not os.path.exists(path):
        return cells
    version = None
    row = re.compile(r"^\| (MQTT-[0-9.]+-[0-9]+) \|.*\| ([^|]*) \| ([^|]*) \|\s*$")
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^## MQTT (3\.1\.1|5\.0)\b", line)
            if m:
                version = m.group(1)
                continue
            m = row.match(line)
            if m and version:
                cells[(version, m.group(1))] = (m.group(2).strip(), m.group(3).strip())
    return cells


def render(version, rows, classes, old):
    missing = [r["id"] for r in rows if r["id"] not in classes]
    extra = set(classes) - {r["id"] for r in rows}
    if missing or extra:
        sys.exit(f"{version}: unclassified {missing}, unknown {sorted(extra)}")
    groups = {}
    for r in rows:
        groups.setdefault(subsection_key(r["section"]), []).append(r)
    lines = []
    counts = {}
    for key in sorted(groups, key=sort_key):
        lines.append(f"### {version} \u00a7{subsection_title(key, version)}")
        lines.append("")
        lines.append("| ID | Summary | Applies | Enforced by | Shown by |")
        lines.append("|---|---|---|---|---|")
        for r in groups[key]:
            applies, summary = classes[r["id"]]
            cls = "n/a" if applies.startswith("n/a") else applies
            counts[cls] = counts.get(cls, 0) + 1
            if cls in ("codec", "client"):
                enf, shown = old.get((version, r["id"]), ("TODO", "TODO"))
            elif cls == "server":
                enf, shown = DASH, DASH
            elif cls == "ws":
                enf, shown = "no WebSocket transport yet", DASH
            else:
                enf, shown = applies[len("n/a: "):], DASH
                applies = "n/a"
            lines.append(f"| {r['id']} | {summary} | {applies} | {enf} | {shown} |")
        lines.append("")
    return lines, counts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec-dir", default="/work/shared/spec")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "SPEC-NOTES.md"))
    args = ap.parse_args()
    old = existing_cells(args.out)
    r311 = read_tsv(os.path.join(args.spec_dir, "mqtt-3.1.1-normative.tsv"))
    r50 = read_tsv(os.path.join(args.spec_dir, "mqtt-5.0-normative.tsv"))
    body = [INTRO.format(n311=len(r311), n50=len(r50))]
    summary = []
    for version, rows, block in (("3.1.1", r311, V311), ("5.0", r50, V50)):
        lines, counts = render(version, rows, parse(block), old)
        order = ["codec", "client", "server", "ws", "n/a"]
        tally = ", ".join(f"{k} {counts[k]}" for k in order if k in counts)
        summary.append(f"| {version} | {len(rows)} | " + " | ".join(str(counts.get(k, 0)) for k in order) + " |")
        body.append(f"## MQTT {version}\n\n{len(rows)} statements: {tally}.\n")
        body.append("\n".join(lines))
    counts_table = ["Counts per version:", "",
                    "| Version | Statements | codec | client | server | ws | n/a |",
                    "|---|---|---|---|---|---|---|", *summary, ""]
    body.insert(1, "\n".join(counts_table))
    with open(args.out, "w", encoding="utf-8") as f:
        f.write("\n".join(body).rstrip("\n") + "\n")
    print("\n".join(summary))


if __name__ == "__main__":
    main()
