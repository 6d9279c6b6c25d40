// The function's code: its class loader, the handler classes (one object of each, made on first use and
// kept, as FC keeps them, so an Initializer's fields are there for the handler), and the methods a handler
// name calls, in each of FC's forms.
package fcemu.runtime;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.net.MalformedURLException;
import java.net.URL;
import java.net.URLClassLoader;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

final class Functions {
    /** A handler name that names nothing fcemu can call: answered as FC's runtime answers it. */
    static final class HandlerError extends Exception {
        HandlerError(String message) {
            super(message);
        }
    }

    /** A handler's method, found by its name and the parameters of one of FC's forms. */
    static final class Target {
        final Object object;
        final Method method;

        Target(Object object, Method method) {
            this.object = object;
            this.method = method;
        }

        Object call(Object... args) throws Throwable {
            try {
                return method.invoke(object, args);
            } catch (InvocationTargetException e) {
                throw e.getCause();
            }
        }
    }

    private final String codePath;
    private ClassLoader loader;
    private final Map<String, Object> objects = new HashMap<>();

    Functions(String codePath) {
        this.codePath = codePath;
    }

    /**
     * The code's class loader: the code folder, then its lib/*.jar, a layer's (FC puts layers under /opt)
     * java/lib/*.jar, then fcemu's fc-java-core interfaces for code that does not carry them. Its parent is the JDK's own (platform) loader, so the code sees none of
     * this runtime's classes.
     */
    synchronized ClassLoader loader() throws MalformedURLException {
        if (loader == null) {
            List<URL> urls = new ArrayList<>();
            File code = new File(codePath);
            urls.add(code.toURI().toURL());
            for (File lib : new File[] {new File(code, "lib"), new File("/opt/java/lib")}) {
                File[] jars = lib.listFiles((dir, name) -> name.endsWith(".jar"));
                if (jars != null) {
                    Arrays.sort(jars);
                    for (File jar : jars) {
                        urls.add(jar.toURI().toURL());
                    }
                }
            }
            urls.add(new File(Bootstrap.env("FCEMU_RUNTIME_DIR", "/var/fcemu/runtime"), "fc/").toURI().toURL());
            loader = new URLClassLoader(urls.toArray(new URL[0]), ClassLoader.getSystemClassLoader().getParent());
        }
        return loader;
    }

    /** `package.Class::method` -> the class's object and the methods of that name. */
    private List<Target> targets(String handler) throws Throwable {
        int colons = handler.indexOf("::");
        if (colons <= 0 || colons == handler.length() - 2) {
            throw new HandlerError("handler \"" + handler + "\" is not package.Class::method, e.g. example.App::handleRequest");
        }
        String className = handler.substring(0, colons);
        String methodName = handler.substring(colons + 2);
        Object object = object(className, handler);
        List<Target> found = new ArrayList<>();
        for (Method m : object.getClass().getMethods()) {
            if (m.getName().equals(methodName) && !m.isBridge() && !Modifier.isStatic(m.getModifiers())) {
                found.add(new Target(object, m));
            }
        }
        if (found.isEmpty()) {
            throw new HandlerError("class " + className + " has no public method " + methodName + " (handler \"" + handler + "\")");
        }
        return found;
    }

    private synchronized Object object(String className, String handler) throws Throwable {
        Object object = objects.get(className);
        if (object != null) {
            return object;
        }
        Class<?> type;
        try {
            type = Class.forName(className, true, loader());
        } catch (ClassNotFoundException e) {
            throw new HandlerError("class " + className + " is not in the code (" + codePath
                    + ", its lib/*.jar); handler \"" + handler + "\" names it");
        } catch (ExceptionInInitializerError e) {
            throw e.getCause() == null ? e : e.getCause();
        }
        try {
            object = type.getConstructor().newInstance();
        } catch (NoSuchMethodException e) {
            throw new HandlerError("class " + className + " has no public constructor without arguments (handler \"" + handler + "\")");
        } catch (InvocationTargetException e) {
            throw e.getCause();
        }
        objects.put(className, object);
        return object;
    }

    private static Target withParameters(List<Target> targets, int count) {
        for (Target t : targets) {
            if (t.method.getParameterCount() == count) {
                return t;
            }
        }
        return null;
    }

    private static boolean isContext(Class<?> type) {
        return type.getName().equals("com.aliyun.fc.runtime.Context");
    }

    /** An event (or FC 3.0's HTTP trigger event) through the handler: its answer's bytes. */
    byte[] invoke(String handler, byte[] payload, ContextValues context) throws Throwable {
        List<Target> targets = targets(handler);
        Target stream = withParameters(targets, 3);
        if (stream != null && stream.method.getParameterTypes()[0] == InputStream.class
                && stream.method.getParameterTypes()[1] == OutputStream.class) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            stream.call(new ByteArrayInputStream(payload), out, context.proxy(loader()));
            return out.toByteArray();
        }
        Target pojo = withParameters(targets, 2);
        if (pojo != null && isContext(pojo.method.getParameterTypes()[1])) {
            Object input = Json.read(payload, pojo.method.getGenericParameterTypes()[0]);
            Object output = pojo.call(input, context.proxy(loader()));
            return pojo.method.getReturnType() == void.class ? new byte[0] : Json.bytes(output);
        }
        throw new HandlerError("handler \"" + handler + "\" is neither a StreamRequestHandler's "
                + "handleRequest(InputStream, OutputStream, Context) nor a PojoRequestHandler's handleRequest(I, Context)");
    }

    /** A hook (Initializer, PreStop, PreFreeze): a method taking the Context. */
    void hook(String handler, ContextValues context) throws Throwable {
        Target hook = withParameters(targets(handler), 1);
        if (hook == null || !isContext(hook.method.getParameterTypes()[0])) {
            throw new HandlerError("hook \"" + handler + "\" takes no Context (FunctionInitializer's initialize(Context), "
                    + "PreStopHandler's preStop(Context))");
        }
        hook.call(context.proxy(loader()));
    }

    /** FC 2.0's HTTP handler, handleRequest(HttpServletRequest, HttpServletResponse, Context), if it is one. */
    Target servletHandler(String handler) throws Throwable {
        Target t = withParameters(targets(handler), 3);
        if (t != null && t.method.getParameterTypes()[0].getName().equals("javax.servlet.http.HttpServletRequest")) {
            return t;
        }
        return null;
    }
}
