// JSON for the POJO handlers, the HTTP trigger event and the error bodies: Debian's Jackson, in this runtime's
// own class loader (the function's code never sees it, and may bring its own).
package fcemu.runtime;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JavaType;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.lang.reflect.Type;
import java.nio.charset.StandardCharsets;

final class Json {
    static final ObjectMapper MAPPER = new ObjectMapper()
            // An event with more fields than the POJO has is read, as FC reads it.
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false)
            .configure(SerializationFeature.FAIL_ON_EMPTY_BEANS, false);

    /** The event as a handler's parameter type; a String parameter takes a payload that is not JSON as text. */
    static Object read(byte[] payload, Type type) throws IOException {
        JavaType javaType = MAPPER.getTypeFactory().constructType(type);
        if (payload.length == 0) {
            return null;
        }
        if (javaType.getRawClass() == String.class) {
            String text = new String(payload, StandardCharsets.UTF_8);
            return text.trim().startsWith("\"") ? MAPPER.readValue(payload, String.class) : text;
        }
        return MAPPER.readValue(payload, javaType);
    }

    /** Reads and writes a small document once, and a log line's time, so that the classes they take are loaded. */
    static void warmUp() {
        Logger.stamp();
        try {
            bytes(MAPPER.readValue("{\"warm\":[1,\"up\",true,null,{}]}".getBytes(StandardCharsets.UTF_8),
                    java.util.Map.class));
            MAPPER.readTree("{}");
        } catch (IOException e) {
            // Only a warm-up: the call that needs it says what is wrong.
        }
    }

    static byte[] bytes(Object value) {
        try {
            return MAPPER.writeValueAsBytes(value);
        } catch (IOException e) {
            throw new IllegalArgumentException("the result cannot be written as JSON: " + e.getMessage(), e);
        }
    }

    private Json() {}
}
