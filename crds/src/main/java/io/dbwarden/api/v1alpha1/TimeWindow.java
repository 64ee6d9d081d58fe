package io.dbwarden.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Pattern;

import java.time.DayOfWeek;
import java.time.Instant;
import java.time.LocalTime;
import java.time.ZoneId;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** When automatic approval applies: days of the week and a time of day range in a time zone. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class TimeWindow {
    @JsonPropertyDescription("Days of the week (Mon, Tue, Wed, Thu, Fri, Sat, Sun). Empty: every day.")
    private List<String> days = new ArrayList<>();

    @Pattern("^([01][0-9]|2[0-3]):[0-5][0-9]$")
    @JsonPropertyDescription("Start time of day, HH:MM (inclusive). Default 00:00.")
    private String from = "00:00";

    @Pattern("^([01][0-9]|2[0-4]):[0-5][0-9]$")
    @JsonPropertyDescription("End time of day, HH:MM (exclusive; 24:00 for midnight). A window that ends before it "
            + "starts runs over midnight. Default 24:00.")
    private String to = "24:00";

    @JsonPropertyDescription("IANA time zone of the window, e.g. Europe/Berlin. Default UTC.")
    private String timeZone = "UTC";

    public List<String> getDays() {
        return days;
    }

    public void setDays(List<String> days) {
        this.days = days == null ? new ArrayList<>() : days;
    }

    public String getFrom() {
        return from;
    }

    public void setFrom(String from) {
        this.from = from;
    }

    public String getTo() {
        return to;
    }

    public void setTo(String to) {
        this.to = to;
    }

    public String getTimeZone() {
        return timeZone;
    }

    public void setTimeZone(String timeZone) {
        this.timeZone = timeZone;
    }

    /** Whether {@code at} falls inside the window (the fields must be valid; see PolicyValidator). */
    public boolean contains(Instant at) {
        ZonedDateTime local = at.atZone(ZoneId.of(timeZone));
        LocalTime start = LocalTime.parse(from);
        int fromMin = start.getHour() * 60 + start.getMinute();
        int toMin = "24:00".equals(to) ? 24 * 60 : LocalTime.parse(to).getHour() * 60 + LocalTime.parse(to).getMinute();
        int now = local.getHour() * 60 + local.getMinute();
        DayOfWeek day = local.getDayOfWeek();
        if (fromMin <= toMin) {
            return dayAllowed(day) && now >= fromMin && now < toMin;
        }
        // over midnight: the evening part belongs to the start day, the morning part to the day before
        return (now >= fromMin && dayAllowed(day)) || (now < toMin && dayAllowed(day.minus(1)));
    }

    private boolean dayAllowed(DayOfWeek d) {
        return days.isEmpty() || days.stream().anyMatch(s -> dayOf(s) == d);
    }

    /** Mon..Sun (case-insensitive, full names too); null when not a day. */
    public static DayOfWeek dayOf(String s) {
        String k = s.toLowerCase(Locale.ROOT);
        for (DayOfWeek d : DayOfWeek.values()) {
            String full = d.name().toLowerCase(Locale.ROOT);
            if (full.equals(k) || full.substring(0, 3).equals(k)) {
                return d;
            }
        }
        return null;
    }
}
