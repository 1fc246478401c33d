/*
 * DHL Shipment Tracking - Unified, pull response and push alike
 * (FORMATS.md 8): {shipments[] {id, service, origin, destination, status,
 * estimatedTimeOfDelivery, details, events[]}}, several shipments per
 * payload.
 *
 * Shipment key: id with service as its qualifier (the same id can come
 * twice, once per service).  Event time: events[].timestamp; without an
 * offset (parcel-de), the zone of the event's country, else of the
 * shipment's country when origin and destination agree, else Germany for
 * the German services, else UTC, always marked assumed.  Status:
 * statusCode, refined by the per-service text rules.  DHL has no
 * acceptance code: the run derives a PICKED_UP where no text rule found
 * one.  Payload facts: estimated delivery, signer, weight, reference, at
 * the time of the shipment's current status.
 */

#include "mp_adapt_carriers.h"

#include <algorithm>

namespace mp_adapt {

namespace {

using namespace carrier;

#define DHL_ROW(name, milestone) {name, MP_MILESTONE_##milestone, MP_REASON_NONE, 0, 0}

/* statusCode (the push filter capitalises them: looked up folding case). */
const code status_codes[] = {
    DHL_ROW("pre-transit", LABEL_CREATED),
    DHL_ROW("transit", IN_TRANSIT),
    DHL_ROW("delivered", DELIVERED),
    DHL_ROW("failure", EXCEPTION),
    DHL_ROW("unknown", UNKNOWN),
};

#undef DHL_ROW

/*
 * Text rules (FORMATS.md 8 [I]): a phrase in status or description
 * (ASCII case folded) refines statusCode, per service: the German
 * phrases only for the German-language services.
 * The first matching row wins, so the order matters: "zur Abholung
 * bereit in der Filiale" is AVAILABLE_FOR_PICKUP, not a pickup, and
 * "RETURNED TO SHIPPER" is checked before "RETURN TO SENDER".
 */
struct text_rule {
    bool german_only;        /* the German-language services (parcel-de, post-de) */
    const char *status_code;
    const char *phrase;
    bool whole_word;
    uint8_t milestone;
};

const char *const german_services[] = {"parcel-de", "post-de"};

const text_rule text_rules[] = {
    {false, "transit", "with courier for delivery", false, MP_MILESTONE_OUT_FOR_DELIVERY},
    {true, "transit", "In Zustellung", false, MP_MILESTONE_OUT_FOR_DELIVERY},
    {false, "transit", "available for pickup", false, MP_MILESTONE_AVAILABLE_FOR_PICKUP},
    {true, "transit", "Filiale", false, MP_MILESTONE_AVAILABLE_FOR_PICKUP},
    {true, "transit", "Packstation", false, MP_MILESTONE_AVAILABLE_FOR_PICKUP},
    {false, "transit", "picked up", false, MP_MILESTONE_PICKED_UP},
    {true, "transit", "Abholung", false, MP_MILESTONE_PICKED_UP},
    {false, "failure", "RETURNED TO SHIPPER", false, MP_MILESTONE_RETURNED_TO_SENDER},
    {false, "failure", "RETURN TO SENDER", false, MP_MILESTONE_RETURN_TO_SENDER},
    {true, "failure", "R\xc3\xbc" "cksendung", false, MP_MILESTONE_RETURN_TO_SENDER},
    {false, "failure", "lost", true, MP_MILESTONE_LOST},
};

bool is_german_service(std::string_view service)
{
    for (const char *german : german_services) {
        if (equals_folded(service, german))
            return true;
    }
    return false;
}

bool is_letter(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* `phrase` in `text`, folded, with non-letters around it when whole_word. */
bool has_phrase(std::string_view text, std::string_view phrase, bool whole_word)
{
    for (size_t at = 0; at + phrase.size() <= text.size(); at++) {
        if (!equals_folded(text.substr(at, phrase.size()), phrase))
            continue;
        if (!whole_word)
            return true;
        bool before = at == 0 || !is_letter(text[at - 1]);
        size_t end = at + phrase.size();
        bool after = end == text.size() || !is_letter(text[end]);
        if (before && after)
            return true;
    }
    return false;
}

/* The milestone of statusCode, refined by the text rules of the service. */
void map_status(run &r, std::string_view service, checkpoint *c)
{
    const code *row = find(status_codes, c->status, true);
    if (row == nullptr) {
        c->milestone = MP_MILESTONE_UNKNOWN;
        if (!c->status.empty())
            r.unmapped(c->status);
        return;
    }
    c->milestone = row->milestone;
    bool german = is_german_service(service);
    for (const text_rule &rule : text_rules) {
        if (!equals_folded(c->status, rule.status_code))
            continue;
        if (rule.german_only && !german)
            continue;
        if (has_phrase(c->substatus, rule.phrase, rule.whole_word) ||
            has_phrase(c->description, rule.phrase, rule.whole_word)) {
            c->milestone = rule.milestone;
            return;
        }
    }
}

/* location: {address {countryCode, postalCode, addressLocality}}. */
error_code read_location(run &r, od::value &value, place *where, problem *p)
{
    return read_member(r, value, "address", [&](od::value &v) -> error_code {
        return walk_object(r, v, [&](std::string_view k, od::value &x, bool *u) -> error_code {
            *u = true;
            if (k == "addressLocality")
                return read_text(r, x, &where->city, p, "addressLocality");
            if (k == "countryCode")
                return read_text(r, x, &where->country, p, "countryCode");
            if (k == "postalCode")
                return read_text(r, x, &where->postal, p, "postalCode");
            *u = false;
            return simdjson::SUCCESS;
        });
    });
}

/* One event (or the shipment's status object), as read. */
struct event_read {
    checkpoint c;
    std::string_view timestamp;
    bool present = false;
};

error_code read_event(run &r, od::value &value, event_read *e)
{
    checkpoint &c = e->c;
    c.time_field = "timestamp";
    od::json_type type;
    error_code error = value.type().get(type);
    if (error)
        return error;
    if (type == od::json_type::null)
        return value.is_null().error(); /* absent */
    od::object object;
    bool is_object;
    error = as_object(r, value, &object, &is_object);
    if (error)
        return error;
    e->present = true;
    if (!is_object) {
        c.trouble.set(MP_REJECT_NOT_AN_EVENT, "events[] or status", "must be an object");
        return simdjson::SUCCESS;
    }
    return walk(object, r, [&](std::string_view key, od::value &v, bool *used) -> error_code {
        *used = true;
        if (key == "timestamp")
            return read_text(r, v, &e->timestamp, &c.trouble, "timestamp");
        if (key == "statusCode")
            return read_text(r, v, &c.status, &c.trouble, "statusCode");
        if (key == "status")
            return read_text(r, v, &c.substatus, &c.trouble, "status");
        if (key == "description")
            return read_text(r, v, &c.description, &c.trouble, "description");
        if (key == "location")
            return read_location(r, v, &c.where, &c.trouble);
        *used = false;
        return simdjson::SUCCESS;
    });
}

/* Countries from the shipment that decide an offset-less time. */
struct shipment_state {
    shipment_id id;
    facts f;
    std::string_view origin_country, destination_country;
    event_read status;
    bool has_newest = false;
    instant newest = {};
    char signer_buffer[MP_SIGNER_SIZE_MAX + 1];   /* "givenName familyName" */
};

/* FORMATS.md 8 and 10: the instant of an event's timestamp. */
void event_time(const shipment_state &s, event_read *e)
{
    checkpoint &c = e->c;
    if (e->timestamp.empty())
        return;
    std::string_view domestic =
        !s.origin_country.empty() && equals_folded(s.origin_country, s.destination_country)
            ? s.origin_country
            : std::string_view();
    std::string_view country = single_zone_country(
        {c.where.country, domestic, is_german_service(s.id.qualifier) ? "DE" : ""});
    c.has_time = parse_local_time(e->timestamp, country, 0, &c.time);
    if (!c.has_time)
        c.trouble.set(MP_REJECT_BAD_TIME, "timestamp", "is not a time");
    c.sort_ms = c.time.utc_ms;
}

/* origin / destination: {address {countryCode}}. */
error_code read_end_country(run &r, od::value &value, std::string_view *country, problem *p)
{
    place where;
    error_code error = read_location(r, value, &where, p);
    *country = where.country;
    return error;
}

/* Pass 1 over a shipment: everything but events[]. */
error_code read_shipment_facts(run &r, od::object &object, shipment_state *s)
{
    facts &f = s->f;
    std::string_view eta;
    error_code error = walk(object, r, [&](std::string_view key, od::value &v, bool *used) -> error_code {
        *used = true;
        if (key == "events")
            return simdjson::SUCCESS; /* pass 2 */
        if (key == "id")
            return read_text(r, v, &s->id.number, &f.trouble, "id");
        if (key == "service")
            return read_text(r, v, &s->id.qualifier, &f.trouble, "service");
        if (key == "origin")
            return read_end_country(r, v, &s->origin_country, &f.trouble);
        if (key == "destination")
            return read_end_country(r, v, &s->destination_country, &f.trouble);
        if (key == "status")
            return read_event(r, v, &s->status);
        if (key == "estimatedTimeOfDelivery")
            return read_text(r, v, &eta, &f.trouble, "estimatedTimeOfDelivery");
        if (key != "details") {
            *used = false;
            return simdjson::SUCCESS;
        }
        return walk_object(r, v, [&](std::string_view k, od::value &x, bool *u) -> error_code {
            *u = true;
            if (k == "proofOfDelivery") {
                return read_member(r, x, "signed", [&](od::value &y) -> error_code {
                    od::object person;
                    bool person_is_object;
                    error_code e2 = as_object(r, y, &person, &person_is_object);
                    if (e2 || !person_is_object)
                        return e2;
                    std::string_view name, given, family;
                    e2 = walk(person, r, [&](std::string_view k3, od::value &z, bool *u3) -> error_code {
                        *u3 = true;
                        if (k3 == "name")
                            return read_text(r, z, &name, &f.trouble, "signed.name");
                        if (k3 == "givenName")
                            return read_text(r, z, &given, &f.trouble, "signed.givenName");
                        if (k3 == "familyName")
                            return read_text(r, z, &family, &f.trouble, "signed.familyName");
                        *u3 = false;
                        return simdjson::SUCCESS;
                    });
                    f.signer = name;
                    if (f.signer.empty() && !given.empty() && !family.empty()) {
                        int size = snprintf(s->signer_buffer, sizeof s->signer_buffer, "%.*s %.*s",
                                            (int)given.size(), given.data(), (int)family.size(),
                                            family.data());
                        if (size > 0)
                            f.signer = std::string_view(
                                s->signer_buffer,
                                std::min((size_t)size, sizeof s->signer_buffer - 1));
                    } else if (f.signer.empty()) {
                        f.signer = !family.empty() ? family : given;
                    }
                    return e2;
                });
            }
            if (k == "weight") {
                std::string_view unit, raw;
                double number = 0;
                bool present = false;
                error_code e = walk_object(r, x, [&](std::string_view k2, od::value &y, bool *u2) -> error_code {
                    *u2 = true;
                    if (k2 == "value")
                        return read_number(r, y, &number, &raw, &present, &f.trouble, "weight.value");
                    if (k2 == "unitText")
                        return read_text(r, y, &unit, &f.trouble, "weight.unitText");
                    *u2 = false;
                    return simdjson::SUCCESS;
                });
                if (!e && present)
                    facts_weight(&f, number, unit, "weight.unitText");
                return e;
            }
            if (k == "references") {
                /* {number, type}, or a list of them: the first number. */
                auto one = [&](od::value &reference) -> error_code {
                    return read_member(r, reference, "number", [&](od::value &y) -> error_code {
                        std::string_view number;
                        error_code e3 = read_text(r, y, &number, &f.trouble, "references.number");
                        if (f.shipment_ref.empty())
                            f.shipment_ref = number;
                        return e3;
                    });
                };
                od::json_type type;
                error_code e = x.type().get(type);
                if (e)
                    return e;
                if (type != od::json_type::array)
                    return one(x);
                od::array list;
                e = x.get_array().get(list);
                return e ? e : each(list, one);
            }
            *u = false;
            return simdjson::SUCCESS;
        });
    });
    if (!error && !eta.empty() && !eta_from_text(eta, &f))
        f.trouble.set(MP_REJECT_BAD_TIME, "estimatedTimeOfDelivery", "is not a time");
    return error;
}

/* Turns one read event into a checkpoint of the shipment. */
void finish_event(run &r, shipment_state *s, event_read *e)
{
    checkpoint &c = e->c;
    event_time(*s, e);
    map_status(r, s->id.qualifier, &c);
    if (c.has_time && (!s->has_newest || c.time.utc_ms > s->newest.utc_ms)) {
        s->newest = c.time;
        s->has_newest = true;
    }
    emit_checkpoint(r, s->id, c);
}

error_code walk_shipment(run &r, od::value &value, uint32_t *index)
{
    od::object object;
    bool is_object;
    error_code error = as_object(r, value, &object, &is_object);
    if (error || !is_object)
        return error;
    shipment_state s;
    s.id.carrier = "DHL";
    error = read_shipment_facts(r, object, &s);
    if (!error)
        error = object.reset().error();
    if (error)
        return error;
    uint32_t events = 0;
    error = walk(object, r, [&](std::string_view key, od::value &v, bool *used) -> error_code {
        *used = true; /* everything else was read in pass 1 */
        if (key != "events")
            return simdjson::SUCCESS;
        return each_element(r, v, [&](od::value &event) -> error_code {
            event_read e;
            e.c.index = (*index)++;
            error_code e2 = read_event(r, event, &e);
            if (e2)
                return e2;
            finish_event(r, &s, &e);
            events++;
            return simdjson::SUCCESS;
        });
    }, false);
    if (error)
        return error;
    if (events == 0 && s.status.present) {
        /* A shipment with no history (a push may carry only the current status). */
        s.status.c.index = (*index)++;
        finish_event(r, &s, &s.status);
    } else if (s.status.present && !s.status.timestamp.empty()) {
        /* The current status dates the payload when it is newer than every event. */
        event_time(s, &s.status);
        if (s.status.c.has_time && (!s.has_newest || s.status.c.time.utc_ms > s.newest.utc_ms)) {
            s.newest = s.status.c.time;
            s.has_newest = true;
        }
    }
    emit_facts(r, (*index)++, s.id, s.f, s.has_newest ? s.newest : received_instant(r));
    return simdjson::SUCCESS;
}

} // namespace

int dhl(od::document &document, run &r)
{
    od::object root;
    error_code error = document.get_object().get(root);
    if (error)
        return r.fail_json(error);
    bool has_shipments = false, shipments_is_array = true, is_problem = false;
    uint32_t index = 0;
    error = walk(root, r, [&](std::string_view key, od::value &v, bool *used) -> error_code {
        if (key == "title" || key == "detail")
            is_problem = true;
        if (key != "shipments")
            return simdjson::SUCCESS;
        *used = true;
        has_shipments = true;
        od::array shipments;
        error_code failure = as_array(r, v, &shipments, &shipments_is_array);
        if (failure || !shipments_is_array)
            return failure;
        return each(shipments, [&](od::value &shipment) -> error_code {
            return walk_shipment(r, shipment, &index);
        });
    });
    if (error)
        return r.fail_json(error);
    if (!shipments_is_array)
        return r.fail("the body is not a DHL tracking payload: \"shipments\" is not an array");
    /* An RFC 7807 problem (no shipment found) is DHL's, and carries no event. */
    if (!has_shipments && !is_problem)
        return r.fail("the body is not a DHL tracking payload: it has no \"shipments\"");
    r.want_derived_pickup();
    return 0;
}

} // namespace mp_adapt
