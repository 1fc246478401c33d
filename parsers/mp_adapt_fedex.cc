/*
 * FedEx (FORMATS.md 7): the Track API v1 response {transactionId,
 * output: {completeTrackResults[] {trackingNumber, trackResults[]}}} and
 * the AIV push, which wraps the same output with outputMetaData.
 *
 * Shipment key: the package's trackingNumberInfo.trackingNumber with
 * trackingNumberUniqueId as its qualifier (FedEx reuses numbers).  A
 * trackResult carrying an `error` (a number not found) is no failure of
 * the payload: it gives what data it has, usually none.  Event time:
 * scanEvents[].date (with its offset).  Status: eventType, else
 * derivedStatusCode.  Payload facts: estimated delivery, signer, weight,
 * declared value and the first customer or shipper reference, at the time
 * of the newest scan.
 */

#include "mp_adapt_carriers.h"

namespace mp_adapt {

namespace {

using namespace carrier;

enum fedex_special : uint8_t {
    FX_NONE = 0,
    FX_NO_MILESTONE,   /* split status, return-label link events */
    FX_POSSESSION,     /* the possession family: not a status, use the derived code */
    FX_USPS_HANDOFF,   /* OX: IN_TRANSIT once the parcel was picked up, else LABEL_CREATED */
    FX_DELIVERY_EXCEPTION, /* DE: an attempt when the recipient was away, else EXCEPTION */
    FX_DELAY,          /* DD, DY, PD: DELAY, or WEATHER by delayDetail.type */
    FX_CLEARANCE,      /* CD: CUSTOMS, or PAYMENT_DUE when duties are due */
    FX_SHIPMENT_EXCEPTION, /* SE: EXCEPTION, LOST or DAMAGED by its text */
};

#define FX_ROW(name, milestone) {name, MP_MILESTONE_##milestone, MP_REASON_NONE, 0, FX_NONE}
#define FX_SPECIAL(name, milestone, reason, special) \
    {name, MP_MILESTONE_##milestone, MP_REASON_##reason, 0, special}

/* eventType / latestStatusDetail.code (FORMATS.md 7, mapping table). */
const code event_types[] = {
    FX_ROW("OC", LABEL_CREATED),
    FX_SPECIAL("OX", LABEL_CREATED, NONE, FX_USPS_HANDOFF),
    FX_ROW("PU", PICKED_UP),
    FX_ROW("PX", PICKED_UP),
    FX_ROW("AA", IN_TRANSIT), FX_ROW("AC", IN_TRANSIT), FX_ROW("AF", IN_TRANSIT),
    FX_ROW("AO", IN_TRANSIT), FX_ROW("AP", IN_TRANSIT), FX_ROW("AR", IN_TRANSIT),
    FX_ROW("AX", IN_TRANSIT), FX_ROW("CH", IN_TRANSIT), FX_ROW("DP", IN_TRANSIT),
    FX_ROW("DR", IN_TRANSIT), FX_ROW("DS", IN_TRANSIT), FX_ROW("EA", IN_TRANSIT),
    FX_ROW("EO", IN_TRANSIT), FX_ROW("EP", IN_TRANSIT), FX_ROW("FD", IN_TRANSIT),
    FX_ROW("IT", IN_TRANSIT), FX_ROW("IX", IN_TRANSIT), FX_ROW("LO", IN_TRANSIT),
    FX_ROW("OF", IN_TRANSIT), FX_ROW("Ow", IN_TRANSIT), FX_ROW("PF", IN_TRANSIT),
    FX_ROW("PL", IN_TRANSIT), FX_ROW("PM", IN_TRANSIT), FX_ROW("SF", IN_TRANSIT),
    FX_ROW("TR", IN_TRANSIT), FX_ROW("CC", IN_TRANSIT), FX_ROW("CP", IN_TRANSIT),
    FX_ROW("RR", IN_TRANSIT), FX_ROW("RM", IN_TRANSIT), FX_ROW("RC", IN_TRANSIT),
    FX_ROW("OD", OUT_FOR_DELIVERY), FX_ROW("ED", OUT_FOR_DELIVERY),
    FX_ROW("AD", OUT_FOR_DELIVERY),
    FX_SPECIAL("DE", EXCEPTION, OTHER, FX_DELIVERY_EXCEPTION),
    FX_ROW("HL", AVAILABLE_FOR_PICKUP), FX_ROW("HP", AVAILABLE_FOR_PICKUP),
    FX_ROW("DL", DELIVERED),
    FX_SPECIAL("DD", EXCEPTION, DELAY, FX_DELAY),
    FX_SPECIAL("DY", EXCEPTION, DELAY, FX_DELAY),
    FX_SPECIAL("PD", EXCEPTION, DELAY, FX_DELAY),
    FX_SPECIAL("CD", EXCEPTION, CUSTOMS, FX_CLEARANCE),
    FX_SPECIAL("SE", EXCEPTION, OTHER, FX_SHIPMENT_EXCEPTION),
    FX_ROW("RS", RETURN_TO_SENDER),
    FX_ROW("CA", CANCELLED),
    FX_SPECIAL("SP", UNKNOWN, NONE, FX_NO_MILESTONE),
    FX_SPECIAL("RP", UNKNOWN, NONE, FX_NO_MILESTONE),
    FX_SPECIAL("LP", UNKNOWN, NONE, FX_NO_MILESTONE),
    FX_SPECIAL("RG", UNKNOWN, NONE, FX_NO_MILESTONE),
    FX_SPECIAL("RD", UNKNOWN, NONE, FX_NO_MILESTONE),
    /* CA and RC of the possession family are movement codes above; these are not. */
    FX_SPECIAL("SH", UNKNOWN, NONE, FX_POSSESSION),
    FX_SPECIAL("CU", UNKNOWN, NONE, FX_POSSESSION),
    FX_SPECIAL("BR", UNKNOWN, NONE, FX_POSSESSION),
    FX_SPECIAL("TP", UNKNOWN, NONE, FX_POSSESSION),
};

/* derivedCode / derivedStatusCode, the fallback. */
const code derived_codes[] = {
    FX_ROW("IN", LABEL_CREATED),
    FX_ROW("PU", PICKED_UP),
    FX_ROW("IT", IN_TRANSIT),
    FX_ROW("OD", OUT_FOR_DELIVERY),
    FX_ROW("DL", DELIVERED),
    FX_SPECIAL("DE", EXCEPTION, OTHER, FX_DELIVERY_EXCEPTION),
    FX_SPECIAL("SE", EXCEPTION, OTHER, FX_SHIPMENT_EXCEPTION),
    FX_ROW("HL", AVAILABLE_FOR_PICKUP),
    FX_ROW("HP", AVAILABLE_FOR_PICKUP),
    FX_ROW("CA", CANCELLED),
    FX_ROW("RS", RETURN_TO_SENDER),
};

#undef FX_ROW
#undef FX_SPECIAL

/* One scan event, as read. */
struct scan_read {
    checkpoint c;
    std::string_view date, event_type, derived_code, exception_code, exception_description,
        delay_type;
};

/* The refinements of FORMATS.md 7 that read the event's own text [I]. */
void refine(const code *row, const scan_read &s, int64_t picked_up_ms, checkpoint *c)
{
    std::string_view text = s.exception_description;
    switch (row->special) {
    case FX_USPS_HANDOFF:
        /* The hand-off to USPS normally follows pickup: a fixed LABEL_CREATED would regress. */
        c->milestone = picked_up_ms <= c->time.utc_ms ? MP_MILESTONE_IN_TRANSIT
                                                      : MP_MILESTONE_LABEL_CREATED;
        break;
    case FX_DELIVERY_EXCEPTION:
        /*
         * Phrases of an absent recipient.  Not a bare "not in": that is
         * also "address not in system", an address exception.
         */
        if (contains_folded(text, "not available") || contains_folded(text, "business closed") ||
            contains_folded(text, "not home") || contains_folded(text, "customer not in") ||
            contains_folded(text, "recipient not in") || contains_folded(text, "no one")) {
            c->milestone = MP_MILESTONE_DELIVERY_ATTEMPTED;
            c->reason = MP_REASON_RECIPIENT_UNAVAILABLE;
        } else if (contains_folded(text, "address")) {
            c->reason = MP_REASON_ADDRESS;
        } else if (contains_folded(text, "refused")) {
            c->reason = MP_REASON_REFUSED;
        }
        break;
    case FX_DELAY:
        if (equals_folded(s.delay_type, "WEATHER"))
            c->reason = MP_REASON_WEATHER;
        break;
    case FX_CLEARANCE:
        if (contains_folded(text, "duties") || contains_folded(text, "duty") ||
            contains_folded(text, "taxes"))
            c->reason = MP_REASON_PAYMENT_DUE;
        break;
    case FX_SHIPMENT_EXCEPTION:
        if (contains_folded(text, "lost")) {
            c->milestone = MP_MILESTONE_LOST;
            c->reason = MP_REASON_NONE;
        } else if (contains_folded(text, "damage")) {
            c->milestone = MP_MILESTONE_DAMAGED;
            c->reason = MP_REASON_NONE;
            c->flags |= MP_EVENT_FLAG_DAMAGED;
        }
        break;
    default:
        break;
    }
}

/*
 * Maps a scan: eventType, else the derived code.  Returns false when it
 * names no milestone (no checkpoint).
 */
bool map_scan(run &r, const scan_read &s, int64_t picked_up_ms, checkpoint *c)
{
    const code *row = find(event_types, s.event_type, true);
    if (row != nullptr && row->special == FX_NO_MILESTONE)
        return false;
    bool unknown_type = row == nullptr && !s.event_type.empty();
    if (row == nullptr || row->special == FX_POSSESSION) {
        if (unknown_type)
            r.unmapped(s.event_type);
        row = find(derived_codes, s.derived_code, true);
        if (row == nullptr && !s.derived_code.empty() && !unknown_type)
            r.unmapped(s.derived_code);
    }
    if (row == nullptr) {
        c->milestone = MP_MILESTONE_UNKNOWN;
        return true;
    }
    c->milestone = row->milestone;
    c->reason = row->reason;
    c->flags |= row->flags;
    refine(row, s, picked_up_ms, c);
    return true;
}

error_code read_scan_location(run &r, od::value &value, place *where, problem *p)
{
    return walk_object(r, value, [&](std::string_view key, od::value &v, bool *used) -> error_code {
        *used = true;
        if (key == "city")
            return read_text(r, v, &where->city, p, "scanLocation.city");
        if (key == "stateOrProvinceCode")
            return read_text(r, v, &where->region, p, "scanLocation.stateOrProvinceCode");
        if (key == "postalCode")
            return read_text(r, v, &where->postal, p, "scanLocation.postalCode");
        if (key == "countryCode")
            return read_text(r, v, &where->country, p, "scanLocation.countryCode");
        *used = false;
        return simdjson::SUCCESS;
    });
}

error_code read_scan(run &r, od::value &value, scan_read *s)
{
    checkpoint &c = s->c;
    od::object object;
    bool is_object;
    error_code error = as_object(r, value, &object, &is_object);
    if (error)
        return error;
    if (!is_object) {
        c.trouble.set(MP_REJECT_NOT_AN_EVENT, "scanEvents[]", "must be an object");
        return simdjson::SUCCESS;
    }
    return walk(object, r, [&](std::string_view key, od::value &v, bool *used) -> error_code {
        *used = true;
        if (key == "date")
            return read_text(r, v, &s->date, &c.trouble, "date");
        if (key == "eventType")
            return read_text(r, v, &s->event_type, &c.trouble, "eventType");
        if (key == "eventDescription")
            return read_text(r, v, &c.description, &c.trouble, "eventDescription");
        if (key == "derivedStatusCode")
            return read_text(r, v, &s->derived_code, &c.trouble, "derivedStatusCode");
        if (key == "exceptionCode")
            return read_text(r, v, &s->exception_code, &c.trouble, "exceptionCode");
        if (key == "exceptionDescription")
            return read_text(r, v, &s->exception_description, &c.trouble, "exceptionDescription");
        if (key == "scanLocation")
            return read_scan_location(r, v, &c.where, &c.trouble);
        if (key == "delayDetail") {
            return read_member(r, v, "type", [&](od::value &x) -> error_code {
                return read_text(r, x, &s->delay_type, &c.trouble, "delayDetail.type");
            });
        }
        *used = false;
        return simdjson::SUCCESS;
    });
}

/* ---- one trackResult ------------------------------------------------------------- */

struct result_state {
    shipment_id id;
    facts f;
    int64_t picked_up_ms = INT64_MAX;   /* ACTUAL_PICKUP / ACTUAL_TENDER, or a pickup scan */
    bool has_newest = false;
    instant newest = {};
};

/* A {value, unit} weight entry, the first of an array. */
error_code read_weights(run &r, od::value &value, facts *f, const char *field)
{
    return each_element(r, value, [&](od::value &entry) -> error_code {
        std::string_view unit, raw;
        double number = 0;
        bool present = false;
        error_code e = walk_object(r, entry, [&](std::string_view k, od::value &x, bool *u) -> error_code {
            *u = true;
            if (k == "unit")
                return read_text(r, x, &unit, &f->trouble, field);
            if (k == "value")
                return read_number(r, x, &number, &raw, &present, &f->trouble, field);
            *u = false;
            return simdjson::SUCCESS;
        });
        if (!e && present && !f->has_weight)
            facts_weight(f, number, unit, field);
        return e;
    });
}

/* Pass 1 over a trackResult: everything but scanEvents. */
error_code read_result_facts(run &r, od::object &object, result_state *s)
{
    facts &f = s->f;
    bool package_weight = false;
    error_code error = walk(object, r, [&](std::string_view key, od::value &v, bool *used) -> error_code {
        *used = true;
        if (key == "scanEvents")
            return simdjson::SUCCESS; /* pass 2 */
        if (key == "trackingNumberInfo") {
            return walk_object(r, v, [&](std::string_view k, od::value &x, bool *u) -> error_code {
                *u = true;
                if (k == "trackingNumber")
                    return read_text(r, x, &s->id.number, &f.trouble, "trackingNumber");
                if (k == "trackingNumberUniqueId")
                    return read_text(r, x, &s->id.qualifier, &f.trouble, "trackingNumberUniqueId");
                *u = false;
                return simdjson::SUCCESS;
            });
        }
        if (key == "dateAndTimes") {
            return each_element(r, v, [&](od::value &entry) -> error_code {
                std::string_view type, when;
                error_code e = walk_object(r, entry, [&](std::string_view k, od::value &x, bool *u) -> error_code {
                    *u = true;
                    if (k == "type")
                        return read_text(r, x, &type, &f.trouble, "dateAndTimes.type");
                    if (k == "dateTime")
                        return read_text(r, x, &when, &f.trouble, "dateAndTimes.dateTime");
                    *u = false;
                    return simdjson::SUCCESS;
                });
                if (e || when.empty())
                    return e;
                if (type == "ESTIMATED_DELIVERY") {
                    if (!eta_from_text(when, &f))
                        f.trouble.set(MP_REJECT_BAD_TIME, "dateAndTimes.dateTime", "is not a time");
                } else if (type == "ACTUAL_PICKUP" || type == "ACTUAL_TENDER") {
                    instant picked;
                    if (parse_time(when, 0, &picked) && !picked.offset_assumed &&
                        picked.utc_ms < s->picked_up_ms)
                        s->picked_up_ms = picked.utc_ms;
                }
                return simdjson::SUCCESS;
            });
        }
        if (key == "deliveryDetails") {
            od::object details;
            bool is_object;
            error_code failure = as_object(r, v, &details, &is_object);
            if (failure || !is_object)
                return failure;
            std::string_view received, signed_by;
            failure = walk(details, r, [&](std::string_view k, od::value &x, bool *u) -> error_code {
                *u = true;
                if (k == "receivedByName")
                    return read_text(r, x, &received, &f.trouble, "receivedByName");
                if (k == "signedByName")
                    return read_text(r, x, &signed_by, &f.trouble, "signedByName");
                *u = false;
                return simdjson::SUCCESS;
            });
            f.signer = !signed_by.empty() ? signed_by : received;
            return failure;
        }
        if (key == "packageDetails") {
            return walk_object(r, v, [&](std::string_view k, od::value &x, bool *u) -> error_code {
                *u = true;
                if (k == "weightAndDimensions") {
                    return read_member(r, x, "weight", [&](od::value &y) -> error_code {
                        f.has_weight = false; /* the package's weight wins over the shipment's */
                        package_weight = true;
                        return read_weights(r, y, &f, "packageDetails.weight");
                    });
                }
                if (k == "declaredValue") {
                    std::string_view currency, amount;
                    double number;
                    bool present = false;
                    error_code e = walk_object(r, x, [&](std::string_view k2, od::value &y, bool *u2) -> error_code {
                        *u2 = true;
                        if (k2 == "currency")
                            return read_text(r, y, &currency, &f.trouble, "declaredValue.currency");
                        if (k2 == "value")
                            return read_number(r, y, &number, &amount, &present, &f.trouble,
                                               "declaredValue.value");
                        *u2 = false;
                        return simdjson::SUCCESS;
                    });
                    if (!e && present)
                        f.add_money(MP_MONEY_DECLARED, amount, currency);
                    return e;
                }
                *u = false;
                return simdjson::SUCCESS;
            });
        }
        if (key == "shipmentDetails") {
            return read_member(r, v, "weight", [&](od::value &x) -> error_code {
                if (package_weight)
                    return r.skip(x);
                return read_weights(r, x, &f, "shipmentDetails.weight");
            });
        }
        if (key == "additionalTrackingInfo") {
            return read_member(r, v, "packageIdentifiers", [&](od::value &x) -> error_code {
                return each_element(r, x, [&](od::value &entry) -> error_code {
                    std::string_view type, first;
                    error_code e2 = walk_object(r, entry, [&](std::string_view k2, od::value &y, bool *u2) -> error_code {
                        *u2 = true;
                        if (k2 == "type")
                            return read_text(r, y, &type, &f.trouble, "packageIdentifiers.type");
                        if (k2 == "value") {
                            std::string_view one;
                            error_code e3 = read_text(r, y, &one, &f.trouble, "packageIdentifiers.value");
                            if (first.empty())
                                first = one;
                            return e3;
                        }
                        if (k2 == "values") {
                            return each_element(r, y, [&](od::value &item) -> error_code {
                                std::string_view one;
                                error_code e4 = read_text(r, item, &one, &f.trouble,
                                                          "packageIdentifiers.values");
                                if (first.empty())
                                    first = one;
                                return e4;
                            });
                        }
                        *u2 = false;
                        return simdjson::SUCCESS;
                    });
                    if (!e2 && f.shipment_ref.empty() &&
                        (type == "CUSTOMER_REFERENCE" || type == "SHIPPER_REFERENCE"))
                        f.shipment_ref = first;
                    return e2;
                });
            });
        }
        *used = false;
        return simdjson::SUCCESS;
    });
    return error;
}

error_code walk_result(run &r, od::value &value, std::string_view outer_number, uint32_t *index)
{
    od::object object;
    bool is_object;
    error_code error = as_object(r, value, &object, &is_object);
    if (error || !is_object)
        return error;
    result_state s;
    s.id.carrier = "FedEx";
    error = read_result_facts(r, object, &s);
    if (error)
        return error;
    if (s.id.number.empty())
        s.id.number = outer_number;
    error = object.reset().error();
    if (error)
        return error;
    error = walk(object, r, [&](std::string_view key, od::value &v, bool *used) -> error_code {
        *used = true; /* everything else was read in pass 1 */
        if (key != "scanEvents")
            return simdjson::SUCCESS;
        return each_element(r, v, [&](od::value &scan) -> error_code {
            scan_read sr;
            sr.c.index = (*index)++;
            sr.c.time_field = "date";
            error_code e = read_scan(r, scan, &sr);
            if (e)
                return e;
            checkpoint &c = sr.c;
            if (!sr.date.empty()) {
                c.has_time = parse_local_time(sr.date, c.where.country, 0, &c.time);
                if (!c.has_time)
                    c.trouble.set(MP_REJECT_BAD_TIME, "date", "is not a time");
            }
            c.sort_ms = c.time.utc_ms;
            c.status = sr.derived_code;
            c.substatus = sr.exception_code;
            c.code = sr.event_type;
            bool kept = map_scan(r, sr, s.picked_up_ms, &c);
            if (kept && c.has_time && c.milestone == MP_MILESTONE_PICKED_UP &&
                c.time.utc_ms < s.picked_up_ms)
                s.picked_up_ms = c.time.utc_ms;
            if (c.has_time && (!s.has_newest || c.time.utc_ms > s.newest.utc_ms)) {
                s.newest = c.time;
                s.has_newest = true;
            }
            if (kept)
                emit_checkpoint(r, s.id, c);
            return simdjson::SUCCESS;
        });
    }, false);
    if (error)
        return error;
    emit_facts(r, (*index)++, s.id, s.f, s.has_newest ? s.newest : received_instant(r));
    return simdjson::SUCCESS;
}

/* One completeTrackResults[] entry: {trackingNumber, trackResults[]}. */
error_code walk_complete(run &r, od::value &value, uint32_t *index)
{
    od::object object;
    bool is_object;
    error_code error = as_object(r, value, &object, &is_object);
    if (error || !is_object)
        return error;
    std::string_view number;
    problem ignored;
    error = walk(object, r, [&](std::string_view key, od::value &v, bool *used) -> error_code {
        *used = true;
        if (key == "trackingNumber")
            return read_text(r, v, &number, &ignored, "trackingNumber");
        return simdjson::SUCCESS; /* trackResults: pass 2 */
    });
    if (!error)
        error = object.reset().error();
    if (error)
        return error;
    return walk(object, r, [&](std::string_view key, od::value &v, bool *used) -> error_code {
        if (key == "trackingNumber") {
            *used = true;
            return simdjson::SUCCESS;
        }
        if (key != "trackResults")
            return simdjson::SUCCESS;
        *used = true;
        return each_element(r, v, [&](od::value &result) -> error_code {
            return walk_result(r, result, number, index);
        });
    }, false);
}

} // namespace

int fedex(od::document &document, run &r)
{
    od::object root;
    error_code error = document.get_object().get(root);
    if (error)
        return r.fail_json(error);
    bool has_output = false, has_errors = false, output_is_object = true;
    uint32_t index = 0;
    error = walk(root, r, [&](std::string_view key, od::value &v, bool *used) -> error_code {
        if (key == "errors")
            has_errors = true;
        if (key != "output")
            return simdjson::SUCCESS;
        *used = true;
        has_output = true;
        od::object output;
        error_code failure = as_object(r, v, &output, &output_is_object);
        if (failure || !output_is_object)
            return failure;
        return walk(output, r, [&](std::string_view k, od::value &x, bool *u) -> error_code {
            if (k != "completeTrackResults")
                return simdjson::SUCCESS;
            *u = true;
            return each_element(r, x, [&](od::value &complete) -> error_code {
                return walk_complete(r, complete, &index);
            });
        });
    });
    if (error)
        return r.fail_json(error);
    if (!output_is_object)
        return r.fail("the body is not a FedEx tracking payload: \"output\" is not an object");
    if (!has_output && !has_errors)
        return r.fail("the body is not a FedEx tracking payload: it has no \"output\"");
    return 0;
}

} // namespace mp_adapt
