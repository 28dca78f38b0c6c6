public class Main {
    static int total(String[] args) {
        int sum = 0;
        for (String a : args) {
            sum += Integer.parseInt(a);
        }
        return sum;
    }

    public static void main(String[] args) {
        String label = total(args);
        System.out.println(label);
    }
}
