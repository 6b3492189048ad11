package io.ttpflow.udf;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import org.apache.flink.table.functions.AggregateFunction;

import static io.ttpflow.udf.Separators.US;
import static io.ttpflow.udf.Separators.RS;
import static io.ttpflow.udf.Separators.GS;
import static io.ttpflow.udf.Separators.FS;

/**
 * A Sigma correlation whose condition only has lower bounds (event_count, value_count, value_sum,
 * temporal), decided on every hit over the hits of the last timespan, as an aggregate over the
 * group's hits in event-time order: the value for a hit is the match its arrival completes, or null.
 *
 * <p>A port of the reference engine's sliding window, {@code udfs/correlate/sigma_runtime.py}
 * (SigmaRuntime._sliding): the same items (one per hit; one per distinct value for value_count;
 * for temporal, an item whose referenced rules a newer hit also covers is replaced), the same
 * bounds, and after a match the group starts over.
 *
 * <p>State: the window's items as {@code ts US refs US value US bundle}, versioned by
 * {@link #STATE_VERSION}. Result: {@code metric US first-ms FS} then the evidence of the newest 32
 * items, {@code step GS bundle} joined by RS.
 */
public class SigmaSliding extends AggregateFunction<String, SigmaSliding.Acc> {
    public static final int STATE_VERSION = 1;
    static final int MAX_WINDOW_ITEMS = 10_000;
    static final int MAX_EVIDENCE = 32;

    /** The state of one group. */
    public static class Acc {
        public int version = STATE_VERSION;
        public String[] items = new String[0];
        public String result;
    }

    static final class Item {
        final long ts;
        final List<Integer> refs;
        final String value;
        final String bundle;

        Item(long ts, List<Integer> refs, String value, String bundle) {
            this.ts = ts;
            this.refs = refs;
            this.value = value;
            this.bundle = bundle;
        }

        String encode() {
            List<String> r = new ArrayList<>();
            for (Integer i : refs) {
                r.add(String.valueOf(i));
            }
            return ts + US + String.join(",", r) + US + (value == null ? "" : value) + US + bundle;
        }

        static Item decode(String text) {
            String[] parts = text.split(US, 4);
            return new Item(Long.parseLong(parts[0]), refs(parts[1]), parts[2].isEmpty() ? null : parts[2], parts[3]);
        }
    }

    static List<Integer> refs(String text) {
        List<Integer> out = new ArrayList<>();
        if (text != null && !text.isEmpty()) {
            for (String part : text.split(",")) {
                out.add(Integer.parseInt(part));
            }
        }
        return out;
    }

    @Override
    public Acc createAccumulator() {
        return new Acc();
    }

    @Override
    public String getValue(Acc acc) {
        return acc.result;
    }

    /**
     * @param kind event_count, value_count, value_sum or temporal
     * @param names the referenced rules' names, unit-separated, by reference index
     */
    public void accumulate(Acc acc, Long ts, String refText, String value, String bundle, String kind, Long span,
                           Double gt, Double gte, String names) {
        acc.result = null;
        if (ts == null || refText == null) {
            return;
        }
        List<Item> items = new ArrayList<>();
        long horizon = ts - span;
        for (String text : acc.items) {
            Item it = Item.decode(text);
            if (it.ts >= horizon) {
                items.add(it);
            }
        }
        List<Integer> refs = refs(refText);
        Item item = new Item(ts, refs, value, bundle == null ? "" : bundle);
        if ("value_count".equals(kind)) {
            items.removeIf(it -> java.util.Objects.equals(it.value, value));
        } else if ("temporal".equals(kind)) {
            Set<Integer> covered = new HashSet<>(refs);
            items.removeIf(it -> covered.containsAll(it.refs));
        }
        items.add(item);
        if (items.size() > MAX_WINDOW_ITEMS) {
            items = new ArrayList<>(items.subList(items.size() - MAX_WINDOW_ITEMS, items.size()));
        }
        // Evidence rides on the newest items only (the reference thins the 33rd newest at each hit):
        // state per group stays small however many hits.
        int thin = items.size() - MAX_EVIDENCE - 1;
        if (thin >= 0 && !items.get(thin).bundle.isEmpty()) {
            Item it = items.get(thin);
            items.set(thin, new Item(it.ts, it.refs, it.value, ""));
        }
        Double metric = metric(items, kind, gt, gte);
        if (metric != null) {
            List<String> names_ = Arrays.asList(names.split(US, -1));
            List<String> evidence = new ArrayList<>();
            for (Item it : items) {
                if (!it.bundle.isEmpty()) {
                    String step = it.refs.isEmpty() ? "" : names_.get(it.refs.get(0));
                    evidence.add(step + GS + it.bundle);
                }
            }
            evidence = evidence.subList(Math.max(0, evidence.size() - MAX_EVIDENCE), evidence.size());
            acc.result = metric + US + items.get(0).ts + FS + String.join(RS, evidence);
            acc.items = new String[0];
            return;
        }
        String[] out = new String[items.size()];
        for (int i = 0; i < items.size(); i++) {
            out[i] = items.get(i).encode();
        }
        acc.items = out;
    }

    static Double metric(List<Item> items, String kind, Double gt, Double gte) {
        double value;
        if ("temporal".equals(kind)) {
            Set<Integer> present = new HashSet<>();
            for (Item it : items) {
                present.addAll(it.refs);
            }
            value = present.size();
        } else if ("value_sum".equals(kind)) {
            double sum = 0;
            for (Item it : items) {
                sum += Double.parseDouble(it.value);
            }
            value = sum;
        } else {
            value = items.size();
        }
        if (gt != null && !(value > gt)) {
            return null;
        }
        if (gte != null && !(value >= gte)) {
            return null;
        }
        return value;
    }
}
